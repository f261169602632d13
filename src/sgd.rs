//! Mini-batch GD and the stochastic sharpness gap (claim 32; theory/README.md "Several unstable eigenvalues", SGD).
