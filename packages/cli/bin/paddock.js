#!/usr/bin/env node
// The `paddock` command. A committed file rather than dist/main.js itself, so npm can link the
// bin when it installs, before the first build exists.
import "../dist/main.js";
