package image

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/batchscore/batchscore/release/notices"
)

// Deb is one Debian package of the root filesystem.
type Deb struct{ Name, Version, Arch, Source string }

// SBOM contents: what is in the image and where it came from.
type SBOM struct {
	Name, Version, Revision, Source string
	Created                         time.Time
	GoVersion                       string
	Modules                         []notices.Module
	Debs                            []Deb
	ORTVersion                      string
}

type spdxDoc struct {
	SPDXVersion       string             `json:"spdxVersion"`
	DataLicense       string             `json:"dataLicense"`
	SPDXID            string             `json:"SPDXID"`
	Name              string             `json:"name"`
	DocumentNamespace string             `json:"documentNamespace"`
	CreationInfo      spdxCreation       `json:"creationInfo"`
	Packages          []spdxPackage      `json:"packages"`
	Relationships     []spdxRelationship `json:"relationships"`
}

type spdxCreation struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
}

type spdxPackage struct {
	Name             string       `json:"name"`
	SPDXID           string       `json:"SPDXID"`
	VersionInfo      string       `json:"versionInfo"`
	Supplier         string       `json:"supplier,omitempty"`
	DownloadLocation string       `json:"downloadLocation"`
	FilesAnalyzed    bool         `json:"filesAnalyzed"`
	LicenseConcluded string       `json:"licenseConcluded"`
	LicenseDeclared  string       `json:"licenseDeclared"`
	CopyrightText    string       `json:"copyrightText"`
	PrimaryPurpose   string       `json:"primaryPackagePurpose,omitempty"`
	ExternalRefs     []spdxExtRef `json:"externalRefs,omitempty"`
	Comment          string       `json:"comment,omitempty"`
}

type spdxExtRef struct {
	Category string `json:"referenceCategory"`
	Type     string `json:"referenceType"`
	Locator  string `json:"referenceLocator"`
}

type spdxRelationship struct {
	Element string `json:"spdxElementId"`
	Type    string `json:"relationshipType"`
	Related string `json:"relatedSpdxElement"`
}

var reSPDXID = regexp.MustCompile(`[^A-Za-z0-9.\-]+`)

func spdxID(kind, name string) string {
	return "SPDXRef-" + kind + "-" + reSPDXID.ReplaceAllString(name, "-")
}

// JSON is the SBOM as an SPDX 2.3 document: the image, the batchscore
// binary, its Go modules (and Go's standard library), ONNX Runtime and
// the Debian packages, each with its package URL.
func (s SBOM) JSON() ([]byte, error) {
	image := spdxPackage{
		Name: s.Name, SPDXID: "SPDXRef-Image", VersionInfo: s.Version, DownloadLocation: "NOASSERTION",
		LicenseConcluded: "NOASSERTION", LicenseDeclared: "NOASSERTION", CopyrightText: "NOASSERTION",
		PrimaryPurpose: "CONTAINER", Comment: "OCI image built from Debian 12 packages and the batchscore release archive",
	}
	app := spdxPackage{
		Name: "batchscore", SPDXID: "SPDXRef-Package-batchscore", VersionInfo: s.Version,
		DownloadLocation: s.Source, LicenseConcluded: "Apache-2.0", LicenseDeclared: "Apache-2.0",
		CopyrightText: "NOASSERTION", PrimaryPurpose: "APPLICATION",
		ExternalRefs: []spdxExtRef{purl("pkg:golang/github.com/batchscore/batchscore@" + s.Version)},
		Comment:      "commit " + s.Revision,
	}
	doc := spdxDoc{
		SPDXVersion: "SPDX-2.3", DataLicense: "CC0-1.0", SPDXID: "SPDXRef-DOCUMENT",
		Name:              s.Name + "-" + s.Version,
		DocumentNamespace: strings.TrimSuffix(s.Source, "/") + "/spdx/" + url.PathEscape(s.Version) + "-" + s.Revision,
		CreationInfo:      spdxCreation{Created: s.Created.UTC().Format(time.RFC3339), Creators: []string{"Tool: batchscore release/cmd/ociimage", "Organization: batchscore"}},
		Packages:          []spdxPackage{image, app},
		Relationships: []spdxRelationship{
			{"SPDXRef-DOCUMENT", "DESCRIBES", "SPDXRef-Image"},
			{"SPDXRef-Image", "CONTAINS", app.SPDXID},
		},
	}
	add := func(parent string, p spdxPackage) {
		p.DownloadLocation, p.FilesAnalyzed = "NOASSERTION", false
		if p.LicenseConcluded == "" {
			p.LicenseConcluded, p.LicenseDeclared = "NOASSERTION", "NOASSERTION"
		}
		p.CopyrightText = "NOASSERTION"
		doc.Packages = append(doc.Packages, p)
		doc.Relationships = append(doc.Relationships, spdxRelationship{parent, "CONTAINS", p.SPDXID})
	}
	add(app.SPDXID, spdxPackage{Name: "go", SPDXID: spdxID("Go", "stdlib"), VersionInfo: s.GoVersion,
		LicenseConcluded: "BSD-3-Clause", LicenseDeclared: "BSD-3-Clause",
		ExternalRefs: []spdxExtRef{purl("pkg:golang/stdlib@" + s.GoVersion)}})
	for _, m := range s.Modules {
		add(app.SPDXID, spdxPackage{Name: m.Path, SPDXID: spdxID("Go", m.Path), VersionInfo: m.Version,
			ExternalRefs: []spdxExtRef{purl("pkg:golang/" + m.Path + "@" + m.Version)},
			Comment:      "licence text in /opt/batchscore/THIRD_PARTY_NOTICES"})
	}
	add("SPDXRef-Image", spdxPackage{Name: "onnxruntime", SPDXID: spdxID("Lib", "onnxruntime"), VersionInfo: s.ORTVersion,
		LicenseConcluded: "MIT", LicenseDeclared: "MIT", Supplier: "Organization: Microsoft Corporation",
		ExternalRefs: []spdxExtRef{purl("pkg:npm/onnxruntime-node@" + s.ORTVersion)},
		Comment:      "/opt/batchscore/libonnxruntime.so, from the onnxruntime-node npm package"})
	for _, d := range s.Debs {
		q := url.Values{"arch": {d.Arch}, "distro": {"debian-12"}}
		if d.Source != "" && d.Source != d.Name {
			q.Set("upstream", d.Source)
		}
		add("SPDXRef-Image", spdxPackage{Name: d.Name, SPDXID: spdxID("Deb", d.Name), VersionInfo: d.Version,
			Supplier:     "Organization: Debian",
			ExternalRefs: []spdxExtRef{purl(fmt.Sprintf("pkg:deb/debian/%s@%s?%s", d.Name, url.PathEscape(d.Version), q.Encode()))},
			Comment:      "copyright in /usr/share/doc/" + d.Name + "/copyright"})
	}
	return json.MarshalIndent(doc, "", "  ")
}

func purl(p string) spdxExtRef {
	return spdxExtRef{Category: "PACKAGE-MANAGER", Type: "purl", Locator: p}
}
