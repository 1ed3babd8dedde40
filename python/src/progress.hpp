// The `progress` argument of the package's long calls (Network.run and the benchmark methods):
// None or False shows nothing; True draws neuroperf::ProgressReporter on the process's stderr
// (a redrawn bar on a terminal, a line per 10% otherwise), the same display as the CLI's; a
// callable receives the counts itself. Every report also checks for Ctrl-C, so a
// KeyboardInterrupt stops the call at the next report. Made and destroyed with the GIL held;
// report() is called without it (the calls release the GIL) and takes it for its work.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <fmt/format.h>
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>

#include "convert.hpp"
#include "neuroperf/progress.hpp"

namespace neuroperf::py {

class PyProgress {
public:
    /// `what` names the call and the callable's arguments in the TypeError for anything else.
    PyProgress(nanobind::object progress, std::string label, std::string_view what) {
        if (progress.is_none() || progress.is(nanobind::bool_(false))) return;
        if (progress.is(nanobind::bool_(true))) {
            bar_ = std::make_unique<ProgressReporter>(std::move(label), ProgressReporter::Mode::automatic, 2);
        } else if (PyCallable_Check(progress.ptr())) {
            callable_ = std::move(progress);
        } else {
            raise_type_error(fmt::format("{}: expected True, False, None or a callable({}), got {}", label, what,
                                         Py_TYPE(progress.ptr())->tp_name));
        }
    }
    PyProgress(const PyProgress&) = delete;
    PyProgress& operator=(const PyProgress&) = delete;

    /// For a callable(fraction, detail) and the bar.
    ProgressFn function() {
        return [this](double fraction, std::string_view detail) {
            nanobind::gil_scoped_acquire acquire;
            check_signals();
            if (bar_) bar_->update(fraction, detail);
            if (callable_.is_valid()) callable_(fraction, std::string(detail));  // raises nb::python_error
        };
    }

    /// For Network.run: the callable gets (steps_done, steps_total), the bar the fraction.
    void steps(std::int64_t done, std::int64_t total) {
        nanobind::gil_scoped_acquire acquire;
        check_signals();
        if (bar_)  // the step counts beside a bar; plain lines only every 10%
            bar_->update(total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 1.0,
                         bar_->is_bar() ? fmt::format("{} / {} steps", done, total) : std::string());
        if (callable_.is_valid()) callable_(done, total);
    }

    /// Ends the bar's line (the destructor does it too, e.g. after an exception).
    void finish() {
        if (bar_) bar_->finish();
    }

private:
    static void check_signals() {
        if (PyErr_CheckSignals() != 0) throw nanobind::python_error();  // KeyboardInterrupt, ...
    }

    std::unique_ptr<ProgressReporter> bar_;
    nanobind::object callable_;
};

}  // namespace neuroperf::py
