package linear

import "golang.org/x/sys/cpu"

// hasFMA says the package can run: MLAS picks its FMA3 (or AVX-512)
// kernels on the same CPUs, which is what the package repeats.
var hasFMA = cpu.X86.HasAVX2 && cpu.X86.HasFMA
