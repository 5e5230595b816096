//! pfprof's examples: the `work` load generator (src/bin/) and a C client
//! (c/). Nothing here yet but the package that will hold them.
