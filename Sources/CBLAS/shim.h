// CBLAS from Debian's libblas-dev (reference BLAS). OpenBLAS installs as a drop-in
// alternative of libblas.so.3 and is picked up at run time without a rebuild.
#include <cblas.h>
