// Mocha's spec reporter, plus the run's counts written to $TEST_COUNTS_FILE so that
// scripts/run-tests.mjs can add up several runs into one "N passed, N failed" line.
"use strict";
const fs = require("node:fs");
const Mocha = require("mocha");

class CountingReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.TEST_COUNTS_FILE;
      if (!file) return;
      const { passes, failures, pending } = this.stats;
      fs.writeFileSync(file, JSON.stringify({ passes, failures, pending }));
    });
  }
}
module.exports = CountingReporter;
