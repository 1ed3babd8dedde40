#include "neuroperf/progress.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>

#include <unistd.h>

#include <fmt/format.h>

namespace neuroperf {
namespace {
constexpr int kBarWidth = 30;
constexpr auto kRedraw = std::chrono::milliseconds(100);
}  // namespace

ProgressReporter::ProgressReporter(std::string label, Mode mode, int fd) : label_(std::move(label)), fd_(fd) {
    const bool tty = ::isatty(fd) != 0;
    switch (mode) {
        case Mode::automatic: bar_ = tty, lines_ = !tty; break;
        case Mode::terminal_only: bar_ = tty; break;
        case Mode::bar: bar_ = true; break;
        case Mode::lines: lines_ = true; break;
        case Mode::quiet: break;
    }
}

ProgressReporter::~ProgressReporter() {
    if (active_ && !finished_) finish(true);
}

void ProgressReporter::write(std::string_view text) const {
    // What the program printed through stdio goes first; then plain write(2), retried on EINTR
    // and short writes.
    if (fd_ == STDOUT_FILENO) std::fflush(stdout);
    if (fd_ == STDERR_FILENO) std::fflush(stderr);
    while (!text.empty()) {
        ssize_t n = ::write(fd_, text.data(), text.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // a closed pipe or full disk costs only the display
        text.remove_prefix(static_cast<std::size_t>(n));
    }
}

void ProgressReporter::update(double fraction, std::string_view detail) {
    if (!bar_ && !lines_) return;
    fraction = std::isnan(fraction) ? 0.0 : std::clamp(fraction, 0.0, 1.0);
    const int percent = static_cast<int>(std::floor(fraction * 100));
    const std::string prefix = label_.empty() ? "" : label_ + "  ";
    const bool new_detail = detail != last_detail_;
    if (bar_) {
        const auto now = std::chrono::steady_clock::now();
        if (active_ && fraction < 1 && !new_detail && now - last_draw_ < kRedraw) return;
        last_draw_ = now;
        const int filled = static_cast<int>(kBarWidth * fraction);
        write(fmt::format("\r\033[K{}[{}{}] {:3d}%{}{}", prefix, std::string(static_cast<std::size_t>(filled), '#'),
                          std::string(static_cast<std::size_t>(kBarWidth - filled), '.'), percent,
                          detail.empty() ? "" : "  ", detail));
    } else if (!detail.empty()) {
        if (new_detail) write(fmt::format("{}{}\n", prefix, detail));
    } else if (percent >= next_percent_ || (percent == 100 && next_percent_ <= 100)) {
        write(fmt::format("{}progress: {}%\n", prefix, percent));
        next_percent_ = percent / 10 * 10 + 10;
    }
    last_detail_ = std::string(detail);
    active_ = true;
}

void ProgressReporter::finish(bool keep_bar) {
    if (finished_) return;
    finished_ = true;
    if (bar_ && active_) write(keep_bar ? "\n" : "\r\033[K");
}

}  // namespace neuroperf
