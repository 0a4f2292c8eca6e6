import { execFileSync } from "node:child_process";

export interface TinyWheel {
  /** The distribution name pip installs by (`paddock-hello`). */
  name: string;
  version: string;
  /** The importable module inside (`paddock_hello`), whose GREETING is `greeting`. */
  module: string;
  greeting: string;
  /** The wheel's file name (`paddock_hello-1.0-py3-none-any.whl`). */
  file: string;
  bytes: Buffer;
}

/**
 * A minimal pure-Python wheel (METADATA, WHEEL, RECORD with real hashes), zipped by the host's
 * python3: no network, no build tools. Importing `module` gives `GREETING == greeting`.
 */
export function tinyWheel(greeting = "hello from a wheel"): TinyWheel {
  const name = "paddock-hello";
  const version = "1.0";
  const module = "paddock_hello";
  // The greeting reaches Python as an argument, never as source text.
  const script = `
import base64, hashlib, io, sys, zipfile
module, version, greeting = sys.argv[1:4]
info = f"{module}-{version}.dist-info"
files = {
  f"{module}/__init__.py": f"GREETING = {greeting!r}\\n",
  f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: ${name}\\nVersion: {version}\\n",
  f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: paddock-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
for path, text in files.items():
  digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
  record.append(f"{path},sha256={digest},{len(text.encode())}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = "\\n".join(record) + "\\n"
out = io.BytesIO()
with zipfile.ZipFile(out, "w") as z:
  for path, text in files.items():
    z.writestr(path, text)
sys.stdout.buffer.write(out.getvalue())
`;
  const bytes = execFileSync("python3", ["-c", script, module, version, greeting], {
    maxBuffer: 1024 * 1024,
  });
  return { name, version, module, greeting, file: `${module}-${version}-py3-none-any.whl`, bytes };
}
