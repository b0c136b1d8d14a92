// Validates FHIR R4 resources with FHIR.js (the npm package "fhir", installed by make from
// package-lock.json). Reads one resource per line of the file named by its argument and
// prints, per line, {"line": n, "errors": [...]}: the messages of severity "error".
"use strict";
const fs = require("fs");
const { Fhir, Versions } = require("fhir");
const { ParseConformance } = require("fhir/parseConformance");

const fhir = new Fhir(new ParseConformance(true, Versions.R4));
const lines = fs.readFileSync(process.argv[2], "utf8").split("\n").filter((l) => l.trim());
lines.forEach((text, index) => {
  const result = fhir.validate(JSON.parse(text));
  const errors = result.messages
    .filter((m) => m.severity === "error")
    .map((m) => `${m.location}: ${m.message}`);
  process.stdout.write(JSON.stringify({ line: index + 1, errors }) + "\n");
});
