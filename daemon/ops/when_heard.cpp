#include "daemon/cluster/redis_job_store.hpp"
#include "daemon/ops/services.hpp"

namespace taskpool::daemon::ops {

void when_heard(const Services& services, base::Callback<void()> then) {
    if (services.cluster != nullptr) {
        services.cluster->hear(std::move(then));
    } else {
        then();
    }
}

}  // namespace taskpool::daemon::ops
