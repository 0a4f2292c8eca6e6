// The quickstart, as a user writes it: create a gVisor sandbox, use it, remove it.
import { Sandbox } from "paddock";

const sandbox = await Sandbox.create(); // busybox image, gVisor (runsc), no network
try {
  const info = await sandbox.info();
  console.log(`sandbox ${info.id} is ${info.state} on ${info.runtime} from image ${info.image}`);
  const health = await sandbox.health();
  console.log(`its agent answers: version ${health.version}`);
} finally {
  await sandbox.terminate();
  console.log(`sandbox ${sandbox.id} removed`);
}
