#include "handlers.hpp"

#include "daemon/cluster/redis_kv.hpp"
#include "daemon/kv/kv_store.hpp"
#include "daemon/ops/services.hpp"
#include "daemon/store/journal.hpp"

namespace taskpool::daemon::ops {
namespace {

using nlohmann::json;

/// A change to the kv store: refused while the journal cannot be written, answered
/// once the journal holds it. `apply` makes the change and gives the reply's fields.
template <class Apply>
void change(Call& call, Apply&& apply) {
    store::Journal* journal = call.services.journal;
    if (journal != nullptr && !journal->health().writable) {
        call.reply.error(journal->unavailable("nothing was changed"));
        return;
    }
    proto::Result<json> fields = apply();
    if (!fields) {
        call.reply.error(fields.error());
        return;
    }
    if (journal == nullptr) {
        call.reply.ok(*fields);
        return;
    }
    journal->after_commit([journal, reply = call.reply, fields = std::move(*fields)](bool ok) {
        if (ok) {
            reply.ok(fields);
        } else {
            reply.error(journal->unavailable("the change holds in memory until it can be"));
        }
    });
}

/// In cluster mode: the reply once Redis has answered.
cluster::RedisKv::Done answer(const Call& call) {
    return [reply = call.reply](proto::Result<json> fields) {
        fields ? reply.ok(*fields) : reply.error(fields.error());
    };
}

}  // namespace

void handle(proto::KvGetRequest req, Call& call) {
    if (auto* shared = call.services.cluster_kv) {
        shared->get(req.key, answer(call));
        return;
    }
    call.reply.ok({{"value", call.services.kv.get(req.key)}});
}

void handle(proto::KvSetRequest req, Call& call) {
    if (auto* shared = call.services.cluster_kv) {
        shared->set(req.key, req.value, answer(call));
        return;
    }
    change(call, [&]() -> proto::Result<json> {
        if (auto room = call.services.kv.room_for(req.key, req.value); !room) {
            return room.error();
        }
        return json{{"value", call.services.kv.set(req.key, std::move(req.value))}};
    });
}

void handle(proto::KvDelRequest req, Call& call) {
    if (auto* shared = call.services.cluster_kv) {
        shared->del(req.key, answer(call));
        return;
    }
    change(call, [&]() -> proto::Result<json> {
        return json{{"value", call.services.kv.del(req.key)}};
    });
}

void handle(proto::KvIncrRequest req, Call& call) {
    if (auto* shared = call.services.cluster_kv) {
        shared->incr(req.key, req.by, answer(call));
        return;
    }
    change(call, [&]() -> proto::Result<json> {
        if (auto room = call.services.kv.room_for(req.key, json(req.by)); !room) {
            return room.error();  // an integer, perhaps under a new key
        }
        auto value = call.services.kv.incr(req.key, req.by);
        if (!value) {
            return value.error();
        }
        return json{{"value", *value}};
    });
}

void handle(proto::KvCasRequest req, Call& call) {
    if (auto* shared = call.services.cluster_kv) {
        shared->cas(req.key, std::move(req.expect), std::move(req.value), answer(call));
        return;
    }
    change(call, [&]() -> proto::Result<json> {
        if (auto room = call.services.kv.room_for(req.key, req.value); !room) {
            return room.error();
        }
        auto result = call.services.kv.cas(req.key, req.expect, std::move(req.value));
        return json{{"swapped", result.swapped}, {"value", std::move(result.value)}};
    });
}

void handle(proto::KvListRequest req, Call& call) {
    auto prefix = req.prefix.value_or("");
    auto after = req.after.value_or("");
    if (auto* shared = call.services.cluster_kv) {
        shared->list(prefix, after, req.limit, answer(call));
        return;
    }
    auto listed = call.services.kv.list(prefix, after, static_cast<std::size_t>(req.limit));
    json values = json::array();
    for (auto& [key, value] : listed.values) {
        values.push_back({{"key", std::move(key)}, {"value", std::move(value)}});
    }
    call.reply.ok({{"values", std::move(values)}, {"more", listed.more}});
}

}  // namespace taskpool::daemon::ops
