#pragma once
// `halorec prepare --append-to PARENT.h5`: a grown dataset from a parent and
// a log of new interactions. The parent's users and items keep their dense
// ids (its id tables are the prefix of the new ones, byte for byte), new ids
// are appended in canonical order, and the new records follow the parent's
// split rule: random:R splits each user's new records alone (the parent's
// train and test stay as they were), temporal:N takes every user's latest N
// of all their records again, a given split puts new records in train (or
// in test from --test). A new record repeating a (user, item) pair the parent
// holds is a duplicate (counted, dropped): the parent's records never
// change. The grown dataset records its parent's fingerprint.

#include <string>

#include "data/prepare.h"

namespace halorec::data {

// `o` reads the new log (o.train_path, o.test_path) with its format options;
// o.kcore must be 0 and o.split unset (the parent's rule applies).
PrepareReport run_append(const PrepareOptions& o, const std::string& parent_path);

}  // namespace halorec::data
