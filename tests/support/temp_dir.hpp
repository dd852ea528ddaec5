#pragma once

#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

namespace taskpool::test {

/// A fresh directory under $TMPDIR, removed with everything in it on destruction.
class TempDir {
public:
    TempDir() {
        auto base = std::filesystem::temp_directory_path() / "taskpool-test-XXXXXX";
        std::string tmpl = base.string();
        if (::mkdtemp(tmpl.data()) == nullptr) {
            throw std::runtime_error("mkdtemp failed");
        }
        path_ = tmpl;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace taskpool::test
