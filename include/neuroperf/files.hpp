// Where neuroperf keeps its cache, and how it writes files (atomically).
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "neuroperf/export.hpp"

namespace neuroperf {

/// The cache directory: $NEUROPERF_CACHE_DIR, else $XDG_CACHE_HOME/neuroperf, else
/// $HOME/.cache/neuroperf (empty variables count as unset). Not created; see ensure_directory.
NEUROPERF_API std::filesystem::path cache_dir();

/// Creates `dir` (and parents) if needed; throws IOError naming the path and the OS reason.
NEUROPERF_API void ensure_directory(const std::filesystem::path& dir);

/// Writes `content` to `path` atomically: a temporary file in the same directory, fsync, rename.
/// Readers see the old file or the new one, never a partial one. Throws IOError.
NEUROPERF_API void write_file_atomic(const std::filesystem::path& path, std::string_view content);

/// Whole file as a string, or std::nullopt if it does not exist or cannot be read.
NEUROPERF_API std::optional<std::string> read_file(const std::filesystem::path& path);

}  // namespace neuroperf
