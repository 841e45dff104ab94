// What both `guardrail demo` variants say the same way: failures, the end of the summary and of
// the teardown, and the loop over the steps.
#include <filesystem>
#include <ostream>
#include <system_error>

#include "guardrail/demo/demo.hpp"

namespace guardrail::demo {

bool Narrator::failure(const std::string& message) {
  say("demo: {}", message);
  return false;
}

void Narrator::say_summary_header(SummaryColumns c) {
  say("");
  say("summary");
  say("  {:<2} {:<{}} {:<30} {:<38} {:<{}} {}", "#", "attempt", c.attempt, "expected",
      "what happened", "alerts", c.alerts, "result");
}

void Narrator::say_summary_row(SummaryColumns c, int number, const std::string& title,
                               const std::string& expected, const std::string& said,
                               const std::vector<std::string>& alert_kinds, bool pass) {
  std::string kinds;
  for (const auto& k : alert_kinds) kinds += (kinds.empty() ? "" : ",") + k;
  say("  {:<2} {:<{}} {:<30} {:<38} {:<{}} {}", number, title, c.attempt, expected, said,
      fmt::format("{} {}", alert_kinds.size(), kinds), c.alerts, pass ? "PASS" : "FAIL");
}

bool alerts_as_expected(const std::vector<std::string>& seen, const std::string& expected_kind) {
  return seen == (expected_kind.empty() ? std::vector<std::string>{}
                                        : std::vector<std::string>{expected_kind});
}

void Narrator::say_metrics_and_result(const std::map<ViolationKey, double>& metrics,
                                      bool metrics_ok, bool all_ok) {
  if (metrics.empty()) say("    (none)");
  for (const auto& [key, value] : metrics)
    say("    {{kind=\"{}\",verdict=\"{}\",zone=\"{}\"}} {}", std::get<0>(key), std::get<1>(key),
        std::get<2>(key), value);
  say("  metrics {}", metrics_ok ? "match the alerts" : "DO NOT match the expected counts");
  say("result: {}", all_ok ? "PASS: every step behaved as expected" : "FAIL");
}

void Narrator::finish_teardown(const std::string& dir, bool verbose, bool ok) {
  if (!dir.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (verbose) say("  removed {}", dir);
  }
  if (verbose) say("  {}", ok ? "clean" : "NOT clean: see the errors above");
}

bool run_steps(size_t count, const std::function<void(size_t)>& step, DemoAgent& agent,
               std::ostream& out) {
  bool interrupted = false;
  for (size_t i = 0; i < count; ++i) {
    if (stop_requested()) {
      interrupted = true;
      break;
    }
    step(i);
    if (!agent.check_running()) break;
  }
  interrupted = interrupted || stop_requested();
  if (interrupted) out << "interrupted: tearing down\n" << std::flush;
  return interrupted;
}

}  // namespace guardrail::demo
