#include "userspace/core/civetweb_stop.h"

#include <arpa/inet.h>
#include <civetweb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>

namespace loupe {

void StopCivetwebOnLoopback(mg_context* ctx, int port) {
  std::atomic<bool> stopped{false};
  std::thread waker([&] {
    while (!stopped.load()) {
      int fd = socket(AF_INET, SOCK_STREAM, 0);
      if (fd >= 0) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(static_cast<uint16_t>(port));
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
        close(fd);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  mg_stop(ctx);
  stopped.store(true);
  waker.join();
}

}  // namespace loupe
