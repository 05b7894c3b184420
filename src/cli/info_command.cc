#include <algorithm>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "data/dataset.h"

namespace halorec::cli {

namespace {

struct DegreeStats {
  int64_t min = 0, median = 0, max = 0;
  double mean = 0;
};

DegreeStats degree_stats(const std::vector<int64_t>& ids, int64_t n) {
  DegreeStats s;
  if (n == 0) return s;
  std::vector<int64_t> deg(static_cast<size_t>(n), 0);
  for (int64_t id : ids) ++deg[static_cast<size_t>(id)];
  s.mean = static_cast<double>(ids.size()) / static_cast<double>(n);
  std::nth_element(deg.begin(), deg.begin() + n / 2, deg.end());
  s.median = deg[static_cast<size_t>(n / 2)];
  const auto [lo, hi] = std::minmax_element(deg.begin(), deg.end());
  s.min = *lo;
  s.max = *hi;
  return s;
}

class InfoCommand : public Command {
 public:
  CLI::App* setup(CLI::App& app) override {
    CLI::App* sub = app.add_subcommand("info", "Summarize a dataset.h5");
    sub->add_option("--dataset", path_, "Dataset file")->required();
    sub->add_flag("--json", json_, "Print the summary as one JSON object on stdout");
    return sub;
  }

  int run() override {
    const data::Dataset d = data::read_dataset(path_);
    const DegreeStats ud = degree_stats(d.train.user, d.num_users());
    const DegreeStats id = degree_stats(d.train.item, d.num_items());
    const double density = d.num_users() * d.num_items() == 0
                               ? 0.0
                               : static_cast<double>(d.train.size() + d.test.size()) /
                                     (static_cast<double>(d.num_users()) * d.num_items());
    auto deg_json = [](const DegreeStats& s) {
      return nlohmann::json{{"min", s.min}, {"median", s.median}, {"mean", s.mean}, {"max", s.max}};
    };
    nlohmann::json j = {{"dataset", path_},
                        {"users", d.num_users()},
                        {"items", d.num_items()},
                        {"train", d.train.size()},
                        {"test", d.test.size()},
                        {"density", density},
                        {"has_time", d.train.has_time},
                        {"user_train_degree", deg_json(ud)},
                        {"item_train_degree", deg_json(id)},
                        {"planted_communities", !d.user_community.empty()},
                        {"split", d.split},
                        {"source", d.source},
                        {"fingerprint", d.fingerprint()}};
    const std::string text = fmt::format(
        "{}\n"
        "  users {}  items {}  train {}  test {}  density {:.6f}\n"
        "  user train degree: min {} median {} mean {:.1f} max {}\n"
        "  item train degree: min {} median {} mean {:.1f} max {}\n"
        "  split {}  source: {}\n"
        "  fingerprint {}",
        path_, d.num_users(), d.num_items(), d.train.size(), d.test.size(), density, ud.min,
        ud.median, ud.mean, ud.max, id.min, id.median, id.mean, id.max, d.split, d.source,
        d.fingerprint());
    print_report(json_, j, text);
    return 0;
  }

 private:
  std::string path_;
  bool json_ = false;
};

}  // namespace

std::unique_ptr<Command> make_info_command() { return std::make_unique<InfoCommand>(); }

}  // namespace halorec::cli
