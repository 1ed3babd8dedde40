// neuroperf._core: the extension module behind the Python package `neuroperf`.
#include "bindings.hpp"
#include "convert.hpp"

NB_MODULE(_core, m) {
    m.doc() = "neuroperf C++ core (use the `neuroperf` package, not this module directly)";
    neuroperf::py::init_numpy();
    neuroperf::py::register_exceptions(m);
    neuroperf::py::bind_mkl(m);
    neuroperf::py::bind_parallel(m);
    neuroperf::py::bind_jit(m);
    neuroperf::py::bind_snn(m);
}
