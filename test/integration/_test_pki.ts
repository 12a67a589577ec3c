/**
 * Test helper: a throwaway private CA and a server certificate for `127.0.0.1`/`localhost`,
 * generated with `openssl` into a temporary directory at test time (no key is ever committed).
 *
 * @module
 */

/** Paths of the generated PEM files, and the CA's text for clients. */
export interface TestPki {
  readonly dir: string;
  readonly caFile: string;
  readonly ca: string;
  readonly certFile: string;
  readonly keyFile: string;
  /** A second, unrelated CA: a client trusting only it must reject the server. */
  readonly otherCaFile: string;
  remove(): Promise<void>;
}

async function openssl(dir: string, args: string[]): Promise<void> {
  const { success, stderr } = await new Deno.Command("openssl", {
    args,
    cwd: dir,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!success) {
    throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
  }
}

async function makeCa(dir: string, name: string): Promise<void> {
  await openssl(dir, [
    "req",
    "-x509",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-days",
    "2",
    "-subj",
    `/CN=${name}`,
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout",
    `${name}.key`,
    "-out",
    `${name}.pem`,
  ]);
}

/**
 * Creates the CA, the server key and a certificate signed by the CA.
 *
 * @example
 * ```ts ignore
 * const pki = await createTestPki();
 * try {
 *   Deno.serve({ cert: await Deno.readTextFile(pki.certFile), key: ..., port: 0 }, handler);
 * } finally {
 *   await pki.remove();
 * }
 * ```
 */
export async function createTestPki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "router-pki-" });
  await makeCa(dir, "test-ca");
  await makeCa(dir, "other-ca");
  await openssl(dir, [
    "req",
    "-newkey",
    "ec",
    "-pkeyopt",
    "ec_paramgen_curve:P-256",
    "-nodes",
    "-subj",
    "/CN=localhost",
    "-keyout",
    "server.key",
    "-out",
    "server.csr",
  ]);
  await Deno.writeTextFile(
    `${dir}/server.ext`,
    "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
  );
  await openssl(dir, [
    "x509",
    "-req",
    "-in",
    "server.csr",
    "-CA",
    "test-ca.pem",
    "-CAkey",
    "test-ca.key",
    "-CAcreateserial",
    "-days",
    "2",
    "-extfile",
    "server.ext",
    "-out",
    "server.pem",
  ]);
  return {
    dir,
    caFile: `${dir}/test-ca.pem`,
    ca: await Deno.readTextFile(`${dir}/test-ca.pem`),
    certFile: `${dir}/server.pem`,
    keyFile: `${dir}/server.key`,
    otherCaFile: `${dir}/other-ca.pem`,
    remove: () => Deno.remove(dir, { recursive: true }),
  };
}
