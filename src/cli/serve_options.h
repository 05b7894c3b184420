#pragma once
// Options shared by the serving subcommands (export, recommend, evaluate,
// interests).

#include <cstdint>
#include <string>

#include <CLI/CLI.hpp>

#include "serve/recommend.h"

namespace halorec::cli {

// --allow-readable-key, for every command that reads a key file.
void add_allow_readable_key(CLI::App* sub, bool* allow);

// The key of a pseudonymized model, or "" without --key.
std::string key_of(const std::string& key_file, bool allow_readable);

// --diversity, --candidates (mmr) and --steer (multi), shared by recommend and
// evaluate.
void add_strategy_options(CLI::App* sub, serve::RecommendOptions* o);

// --threads N: intra-op threads for scoring, ranking and clustering (0: every
// core of the machine, divided among `ranks_on_node` processes).
void add_threads_option(CLI::App* sub, int64_t* threads);
// Applies --threads; returns the number used.
int64_t use_threads(int64_t threads, int64_t ranks_on_node = 1);

}  // namespace halorec::cli
