// Progress of long calls (benchmark suites, network runs, searches), the same everywhere: on a
// terminal one line redrawn in place, "[##########..........]  50%  detail"; elsewhere plain
// lines, or nothing. Used by `neuroperf bench`, `neuroperf simulate` and the Python package.
//
//   neuroperf::ProgressReporter progress("simulate");
//   for (...) progress.update(done / total);
//   progress.finish();
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// Progress of a long call (the benchmark methods): called on the calling thread between units
/// of work with the fraction done in [0, 1] and what was just finished; the last call has
/// fraction 1. An exception it throws stops the work and propagates from the call (nothing
/// partial is returned or written).
using ProgressFn = std::function<void(double fraction, std::string_view detail)>;

class NEUROPERF_API ProgressReporter {
public:
    enum class Mode {
        automatic,      ///< a bar on a terminal, lines otherwise
        terminal_only,  ///< a bar on a terminal, nothing otherwise
        bar,            ///< always the redrawn bar
        lines,          ///< plain lines: every detail given, else every 10%
        quiet,          ///< nothing
    };

    /// A reporter writing to file descriptor `fd` (1 = stdout, 2 = stderr); `label` starts
    /// every line.
    explicit ProgressReporter(std::string label = {}, Mode mode = Mode::automatic, int fd = 1);
    ~ProgressReporter();
    ProgressReporter(const ProgressReporter&) = delete;
    ProgressReporter& operator=(const ProgressReporter&) = delete;

    /// `fraction` (clamped to [0, 1]) of the work is done; `detail` is shown after the bar (and
    /// is a line of its own in lines mode). A bar is redrawn at most every 0.1 s, except for the
    /// last update (fraction 1) and a new detail.
    void update(double fraction, std::string_view detail = {});
    /// Ends the display: clears a bar's line (keeping nothing on screen) or, with
    /// `keep_bar`, leaves it and moves to the next line. Called by the destructor if needed.
    void finish(bool keep_bar = true);
    /// True when this reporter draws the redrawn bar (a terminal, or Mode::bar).
    bool is_bar() const { return bar_; }

private:
    void write(std::string_view text) const;

    std::string label_;
    int fd_;
    bool bar_ = false, lines_ = false, active_ = false, finished_ = false;
    int next_percent_ = 10;
    std::string last_detail_;
    std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace neuroperf
