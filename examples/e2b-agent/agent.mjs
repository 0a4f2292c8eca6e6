// A small "agent" written against E2B's own SDK, unchanged: it runs on Paddock because of three
// environment variables (see README.md, "E2B compatibility"):
//
//   E2B_API_URL=http://127.0.0.1:7600/e2b E2B_SANDBOX_URL=http://127.0.0.1:7600/e2b/envd \
//   E2B_API_KEY=<a Paddock API key> node examples/e2b-agent/agent.mjs
//
// The "model" is a fixed plan: write a program, run it, look at its output, fix it, run again.
import { CommandExitError, Sandbox } from "e2b";

const plan = [
  { file: "stats.py", code: "import statistics\nprint(statistics.mean(numbers))\n" },
  {
    file: "stats.py",
    code: "import statistics\nnumbers = [3, 1, 4, 1, 5, 9, 2, 6]\nprint(statistics.mean(numbers), statistics.median(numbers))\n",
  },
];

const sandbox = await Sandbox.create({ metadata: { agent: "e2b-agent-example" } });
try {
  console.log(`sandbox ${sandbox.sandboxId} is ready`);
  for (const [i, step] of plan.entries()) {
    await sandbox.files.write(step.file, step.code);
    try {
      const run = await sandbox.commands.run(`python3 ${step.file}`, {
        onStdout: (line) => process.stdout.write(`  [step ${i + 1}] ${line}`),
      });
      console.log(`step ${i + 1} worked: ${run.stdout.trim()}`);
      break;
    } catch (err) {
      if (!(err instanceof CommandExitError)) throw err;
      const last = err.stderr.trim().split("\n").at(-1);
      console.log(`step ${i + 1} failed (exit ${err.exitCode}): ${last}; trying again`);
    }
  }
  const files = await sandbox.files.list(".");
  console.log(`files in the home directory: ${files.map((f) => f.name).join(", ")}`);
} finally {
  await sandbox.kill();
  console.log(`sandbox ${sandbox.sandboxId} killed`);
}
