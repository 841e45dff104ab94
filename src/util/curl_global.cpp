#include "guardrail/util/curl_global.hpp"

#include <curl/curl.h>

#include <mutex>
#include <string>

namespace guardrail {

Result<void> curl_global_ready() {
  static std::once_flag once;
  static CURLcode init = CURLE_OK;
  std::call_once(once, [] { init = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (init != CURLE_OK)
    return fail(std::string("curl_global_init failed: ") + curl_easy_strerror(init));
  return {};
}

}  // namespace guardrail
