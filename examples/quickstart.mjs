// The quickstart, as a user writes it: create a gVisor sandbox, run a command in it, remove it.
import { Sandbox } from "paddock";

const sandbox = await Sandbox.create(); // busybox image, gVisor (runsc), no network
try {
  console.log(`sandbox ${sandbox.id} is ready`);
  const proc = await sandbox.process.exec("uname", "-a");
  const { stdout, exitCode } = await proc.output();
  console.log(`uname -a in the sandbox (exit ${exitCode}): ${stdout.trim()}`);

  const py = await sandbox.process.run("echo hello from $(hostname) && ls / | wc -l");
  console.log((await py.output()).stdout.trim());
} finally {
  await sandbox.terminate();
  console.log(`sandbox ${sandbox.id} removed`);
}
