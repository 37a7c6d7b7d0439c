package main

import (
	"math"
	"math/rand/v2"

	"github.com/apache/arrow/go/v17/arrow"
)

// FeatureNames is THE list of the 30 numeric model features, in the order
// the models in testdata/models expect them (the order of the Parquet
// columns too). Print it with `gensnapshot --list-features`.
//
// Keep this list, featureTypes, the schema and customer.visit in sync;
// TestSchema checks that they agree.
var FeatureNames = [...]string{
	"tenure_months",          // int32   months since sign-up, 0..72
	"age",                    // int32   customer age in years, 18..90
	"is_senior",              // bool    age >= 65
	"has_partner",            // bool    lives with a partner
	"num_dependents",         // int32   0..5
	"monthly_charges",        // float64 current monthly bill, currency units
	"total_charges",          // float64 lifetime billed amount
	"num_products",           // int64   subscribed products, 1..6
	"avg_monthly_data_gb",    // float64 mobile data per month
	"avg_call_minutes",       // float64 voice minutes per month
	"dropped_call_rate",      // float64 fraction of dropped calls, 0..0.3
	"network_quality_score",  // float64 0..10, regional network quality
	"num_support_calls",      // int64   support calls in the last 90 days
	"tech_support_hours",     // float64 hours spent with tech support, last 90 days
	"satisfaction_score",     // float64 survey score 1..10
	"late_payment_ratio",     // float64 share of late payments, 0..1
	"outstanding_balance",    // float64 unpaid amount
	"discount_pct",           // float64 current discount, 0..40
	"price_increase_pct_12m", // float64 price increase over the last 12 months, %
	"bill_variability",       // float64 std-dev of the monthly bill
	"paperless_billing",      // bool
	"has_streaming",          // bool    has a streaming add-on
	"app_sessions_per_week",  // float64 mobile-app sessions per week
	"avg_session_minutes",    // float64 average app session length
	"days_since_last_login",  // int64   0..365
	"email_open_rate",        // float64 0..1
	"credit_score",           // float64 300..850
	"household_income_k",     // float64 thousands per year
	"distance_to_store_km",   // float64 to the nearest store
	"months_to_contract_end", // float64 0 for month_to_month contracts
}

// featureTypes gives the Arrow type of each entry of FeatureNames.
var featureTypes = [len(FeatureNames)]arrow.DataType{
	arrow.PrimitiveTypes.Int32,    // tenure_months
	arrow.PrimitiveTypes.Int32,    // age
	arrow.FixedWidthTypes.Boolean, // is_senior
	arrow.FixedWidthTypes.Boolean, // has_partner
	arrow.PrimitiveTypes.Int32,    // num_dependents
	arrow.PrimitiveTypes.Float64,  // monthly_charges
	arrow.PrimitiveTypes.Float64,  // total_charges
	arrow.PrimitiveTypes.Int64,    // num_products
	arrow.PrimitiveTypes.Float64,  // avg_monthly_data_gb
	arrow.PrimitiveTypes.Float64,  // avg_call_minutes
	arrow.PrimitiveTypes.Float64,  // dropped_call_rate
	arrow.PrimitiveTypes.Float64,  // network_quality_score
	arrow.PrimitiveTypes.Int64,    // num_support_calls
	arrow.PrimitiveTypes.Float64,  // tech_support_hours
	arrow.PrimitiveTypes.Float64,  // satisfaction_score
	arrow.PrimitiveTypes.Float64,  // late_payment_ratio
	arrow.PrimitiveTypes.Float64,  // outstanding_balance
	arrow.PrimitiveTypes.Float64,  // discount_pct
	arrow.PrimitiveTypes.Float64,  // price_increase_pct_12m
	arrow.PrimitiveTypes.Float64,  // bill_variability
	arrow.FixedWidthTypes.Boolean, // paperless_billing
	arrow.FixedWidthTypes.Boolean, // has_streaming
	arrow.PrimitiveTypes.Float64,  // app_sessions_per_week
	arrow.PrimitiveTypes.Float64,  // avg_session_minutes
	arrow.PrimitiveTypes.Int64,    // days_since_last_login
	arrow.PrimitiveTypes.Float64,  // email_open_rate
	arrow.PrimitiveTypes.Float64,  // credit_score
	arrow.PrimitiveTypes.Float64,  // household_income_k
	arrow.PrimitiveTypes.Float64,  // distance_to_store_km
	arrow.PrimitiveTypes.Float64,  // months_to_contract_end
}

// Categorical columns and their levels.
var (
	contractTypes  = []string{"month_to_month", "one_year", "two_year"}
	paymentMethods = []string{"electronic_check", "mailed_check", "bank_transfer", "credit_card"}
	regions        = []string{"north", "south", "east", "west", "central"}
)

// Non-feature columns.
const (
	colCustomerID   = "customer_id"
	colSnapshotDate = "snapshot_date"
	colContractType = "contract_type"
	colPayment      = "payment_method"
	colRegion       = "region"
	colChurned      = "churned"

	// customerIDBase is the customer_id of row 0; row i gets customerIDBase+i.
	customerIDBase = 1_000_000
)

// Schema returns the Arrow schema of a snapshot file.
func Schema() *arrow.Schema {
	fields := make([]arrow.Field, 0, 2+len(FeatureNames)+4)
	fields = append(fields,
		arrow.Field{Name: colCustomerID, Type: arrow.PrimitiveTypes.Int64},
		arrow.Field{Name: colSnapshotDate, Type: arrow.FixedWidthTypes.Date32},
	)
	for i, n := range FeatureNames {
		fields = append(fields, arrow.Field{Name: n, Type: featureTypes[i]})
	}
	fields = append(fields,
		arrow.Field{Name: colContractType, Type: arrow.BinaryTypes.String},
		arrow.Field{Name: colPayment, Type: arrow.BinaryTypes.String},
		arrow.Field{Name: colRegion, Type: arrow.BinaryTypes.String},
		arrow.Field{Name: colChurned, Type: arrow.FixedWidthTypes.Boolean},
	)
	return arrow.NewSchema(fields, nil)
}

// customer is one generated row.
type customer struct {
	id int64

	tenureMonths        int32
	age                 int32
	isSenior            bool
	hasPartner          bool
	numDependents       int32
	monthlyCharges      float64
	totalCharges        float64
	numProducts         int64
	avgMonthlyDataGB    float64
	avgCallMinutes      float64
	droppedCallRate     float64
	networkQuality      float64
	numSupportCalls     int64
	techSupportHours    float64
	satisfaction        float64
	latePaymentRatio    float64
	outstandingBalance  float64
	discountPct         float64
	priceIncreasePct    float64
	billVariability     float64
	paperlessBilling    bool
	hasStreaming        bool
	appSessionsPerWeek  float64
	avgSessionMinutes   float64
	daysSinceLastLogin  int64
	emailOpenRate       float64
	creditScore         float64
	householdIncomeK    float64
	distanceToStoreKm   float64
	monthsToContractEnd float64

	contract string
	payment  string
	region   string
	churned  bool
}

// newCustomer draws one customer from r. The number of values drawn from r
// depends only on r's state, so the sequence of rows depends only on the seed.
func newCustomer(r *rand.Rand, id int64) customer {
	var c customer
	c.id = id

	c.region = pick(r, regions, []float64{0.22, 0.24, 0.20, 0.20, 0.14})

	c.age = int32(clamp(math.Round(45+15*r.NormFloat64()), 18, 90))
	c.isSenior = c.age >= 65
	c.hasPartner = r.Float64() < 0.25+0.3*clamp(float64(c.age-18)/30, 0, 1)
	if c.hasPartner {
		c.numDependents = int32(min(poisson(r, 1.1), 5))
	} else {
		c.numDependents = int32(min(poisson(r, 0.2), 5))
	}

	c.tenureMonths = int32(clamp(math.Floor(r.ExpFloat64()*(18+0.3*float64(c.age-18))), 0, 72))
	tn := float64(c.tenureMonths) / 72
	{
		u := r.Float64()
		switch {
		case u < 0.08+0.42*tn:
			c.contract = "two_year"
			c.monthsToContractEnd = monthsLeft(c.tenureMonths, 24, r.Float64())
		case u < 0.28+0.52*tn:
			c.contract = "one_year"
			c.monthsToContractEnd = monthsLeft(c.tenureMonths, 12, r.Float64())
		default:
			c.contract = "month_to_month"
		}
	}
	c.payment = pick(r, paymentMethods, []float64{0.34, 0.22, 0.22, 0.22})
	pPaperless := 0.55
	if c.payment == "electronic_check" {
		pPaperless = 0.75
	}
	c.paperlessBilling = r.Float64() < pPaperless

	c.numProducts = 1
	for range 5 {
		if r.Float64() < 0.3 {
			c.numProducts++
		}
	}
	c.hasStreaming = r.Float64() < 0.45
	c.monthlyCharges = round(clamp(22+14*float64(c.numProducts)+12*b2f(c.hasStreaming)+8*r.NormFloat64(), 18.25, 150), 2)
	if c.tenureMonths == 0 {
		c.totalCharges = round(c.monthlyCharges*r.Float64(), 2)
	} else {
		c.totalCharges = round(c.monthlyCharges*float64(c.tenureMonths)*(0.9+0.15*r.Float64()), 2)
	}

	c.householdIncomeK = round(math.Exp(4.1+0.45*r.NormFloat64()), 1)
	c.creditScore = clamp(math.Round(680+70*r.NormFloat64()+0.3*(c.householdIncomeK-60)), 300, 850)
	risk := clamp(1+(700-c.creditScore)/150, 0.2, 4)
	c.latePaymentRatio = round(clamp(r.ExpFloat64()*0.07*risk, 0, 1), 3)
	c.outstandingBalance = round(c.latePaymentRatio*c.monthlyCharges*4*r.Float64(), 2)
	if u := r.Float64(); c.contract == "two_year" && u < 0.6 || u < 0.3 {
		c.discountPct = round(5+25*r.Float64(), 1)
	}
	if r.Float64() < 0.5 {
		c.priceIncreasePct = round(2+13*r.Float64(), 1)
	}
	c.billVariability = round(math.Abs(0.05*c.monthlyCharges*r.NormFloat64()), 2)

	c.avgMonthlyDataGB = round(math.Exp(2.3+0.7*r.NormFloat64())+8*b2f(c.hasStreaming), 2)
	c.avgCallMinutes = round(math.Exp(5.3+0.6*r.NormFloat64()), 1)
	nqBase := 7.0
	switch c.region {
	case "south":
		nqBase = 6.8
	case "east":
		nqBase = 7.2
	case "west":
		nqBase = 7.5
	case "central":
		nqBase = 6.2
	}
	c.networkQuality = round(clamp(nqBase+1.2*r.NormFloat64(), 0, 10), 2)
	c.droppedCallRate = round(clamp(0.02+0.012*(8-c.networkQuality)+math.Abs(0.01*r.NormFloat64()), 0, 0.3), 4)

	c.numSupportCalls = poisson(r, math.Max(0.1, 0.6+0.25*(8-c.networkQuality)+0.2*float64(c.numProducts)))
	c.techSupportHours = round(float64(c.numSupportCalls)*(0.1+0.7*r.Float64()), 2)
	c.satisfaction = round(clamp(7.2-0.45*float64(c.numSupportCalls)+0.25*(c.networkQuality-7)-0.05*c.priceIncreasePct+1.2*r.NormFloat64(), 1, 10), 1)

	c.appSessionsPerWeek = round(math.Exp(1.2+0.8*r.NormFloat64())*(1.5-float64(c.age)/100), 2)
	c.avgSessionMinutes = round(math.Exp(1.8+0.5*r.NormFloat64()), 2)
	c.daysSinceLastLogin = int64(clamp(math.Floor(r.ExpFloat64()*20/(0.5+c.appSessionsPerWeek)), 0, 365))
	c.emailOpenRate = round(math.Pow(r.Float64(), 1.5), 3)
	c.distanceToStoreKm = round(math.Exp(2.0+0.9*r.NormFloat64()), 2)

	// The hidden churn model: a logistic function of the features (plus the
	// contract and payment categories, one interaction and noise).
	z := -1.3 +
		1.1*b2f(c.contract == "month_to_month") - 0.9*b2f(c.contract == "two_year") -
		0.045*float64(c.tenureMonths) +
		0.028*(c.monthlyCharges-65) +
		0.32*float64(c.numSupportCalls) -
		0.38*(c.satisfaction-6) +
		2.5*c.latePaymentRatio +
		6*c.droppedCallRate +
		0.06*c.priceIncreasePct -
		0.025*c.discountPct +
		0.02*float64(c.daysSinceLastLogin) -
		0.08*math.Min(c.appSessionsPerWeek, 10) -
		0.35*b2f(c.hasPartner) - 0.2*float64(min(c.numDependents, 3)) +
		0.3*b2f(c.isSenior) +
		0.45*b2f(c.payment == "electronic_check") +
		0.8*b2f(c.monthlyCharges > 95 && c.tenureMonths < 12) -
		0.06*c.monthsToContractEnd +
		0.6*r.NormFloat64()
	c.churned = r.Float64() < 1/(1+math.Exp(-z))
	return c
}

// monthsLeft is the time left on a contract of termMonths that renews
// every term, given the tenure and a fraction u of the current month.
func monthsLeft(tenure int32, termMonths int32, u float64) float64 {
	return round(math.Max(0, float64(termMonths-tenure%termMonths)-u), 1)
}

func pick(r *rand.Rand, levels []string, weights []float64) string {
	u := r.Float64()
	for i, w := range weights {
		if u < w {
			return levels[i]
		}
		u -= w
	}
	return levels[len(levels)-1]
}

// poisson draws a Poisson variate (Knuth's method; fine for small lambda).
func poisson(r *rand.Rand, lambda float64) int64 {
	l := math.Exp(-lambda)
	k := int64(0)
	p := r.Float64()
	for p > l {
		k++
		p *= r.Float64()
	}
	return k
}

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }

func round(x float64, digits int) float64 {
	s := math.Pow10(digits)
	return math.Round(x*s) / s
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// rowVisitor receives one customer's values in schema order.
type rowVisitor interface {
	snapshotDate()
	i32(int32)
	i64(int64)
	f64(float64)
	bool(bool)
	str(string)
}

// visit hands c's values to v in schema order: the one place that order
// is written down, for the Parquet and the CSV writer alike.
func (c *customer) visit(v rowVisitor) {
	v.i64(c.id)
	v.snapshotDate()
	v.i32(c.tenureMonths)
	v.i32(c.age)
	v.bool(c.isSenior)
	v.bool(c.hasPartner)
	v.i32(c.numDependents)
	v.f64(c.monthlyCharges)
	v.f64(c.totalCharges)
	v.i64(c.numProducts)
	v.f64(c.avgMonthlyDataGB)
	v.f64(c.avgCallMinutes)
	v.f64(c.droppedCallRate)
	v.f64(c.networkQuality)
	v.i64(c.numSupportCalls)
	v.f64(c.techSupportHours)
	v.f64(c.satisfaction)
	v.f64(c.latePaymentRatio)
	v.f64(c.outstandingBalance)
	v.f64(c.discountPct)
	v.f64(c.priceIncreasePct)
	v.f64(c.billVariability)
	v.bool(c.paperlessBilling)
	v.bool(c.hasStreaming)
	v.f64(c.appSessionsPerWeek)
	v.f64(c.avgSessionMinutes)
	v.i64(c.daysSinceLastLogin)
	v.f64(c.emailOpenRate)
	v.f64(c.creditScore)
	v.f64(c.householdIncomeK)
	v.f64(c.distanceToStoreKm)
	v.f64(c.monthsToContractEnd)
	v.str(c.contract)
	v.str(c.payment)
	v.str(c.region)
	v.bool(c.churned)
}
