// Fuzz target: what the Docker Engine answers. The bytes as an inspect document (the reader the
// agent's discovery uses), then as the whole HTTP response to GET /version on the socket.
#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "canned_server.hpp"
#include "guardrail/docker/client.hpp"
#include "targets.hpp"

namespace guardrail::fuzz {

void docker(Input data) {
  const std::string text(reinterpret_cast<const char*>(data.data()), data.size());
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (!doc.is_discarded()) {
    (void)docker::container_from_inspect(doc);
    if (doc.is_array())  // GET /containers/json
      for (const auto& item : doc) (void)docker::container_from_inspect(item);
  }
  static const auto server = CannedServer::unix_socket();
  server->set_answer(text);
  const docker::Client client(server->socket_path(), std::chrono::milliseconds(2000));
  (void)client.version();
}

}  // namespace guardrail::fuzz
