#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace taskpool::daemon::store {

/// An SQLite call that failed, with SQLite's message.
class SqliteError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// One prepared statement: bind by position (from 1), step, read columns (from 0).
/// reset() clears the bindings for the next use.
class Statement {
public:
    Statement(sqlite3* db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, double value);
    Statement& bind(int index, std::string_view text);
    Statement& bind_null(int index);
    /// A value that may be absent (std::optional, proto::Boxed): NULL when it is.
    template <class Optional>
    requires requires(const Optional& v) {
        v.has_value();
        *v;
    }
    Statement& bind(int index, const Optional& value) {
        return value ? bind(index, *value) : bind_null(index);
    }

    /// True while there is a row to read; false when done. Throws on an error.
    bool step();
    /// Steps a statement that returns no rows, then resets it.
    void run();
    void reset();

    bool is_null(int column) const;
    std::int64_t integer(int column) const;
    double real(int column) const;
    std::string_view text(int column) const;
    std::optional<std::string_view> optional_text(int column) const;
    std::optional<std::int64_t> optional_integer(int column) const;

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
};

/// An open database connection, used by one thread at a time.
class Database {
public:
    /// Opens (creating when `create`) the file; throws SqliteError naming it.
    Database(const std::string& path, bool create);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs one or more statements that return no rows.
    void exec(std::string_view sql);
    /// The first column of the first row of a query.
    std::string query_text(std::string_view sql);
    std::int64_t query_integer(std::string_view sql);

    sqlite3* handle() const { return db_; }

private:
    sqlite3* db_ = nullptr;
};

}  // namespace taskpool::daemon::store
