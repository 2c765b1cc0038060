import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** The credentials s3rver accepts (its built-in dummy account). */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" } as const;

interface S3rverInstance {
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
}
type S3rverConstructor = new (options: {
  address: string;
  port: number;
  silent: boolean;
  directory: string;
  configureBuckets: Array<{ name: string; configs: string[] }>;
}) => S3rverInstance;

/** A real S3-compatible server (s3rver) on 127.0.0.1, in a temporary directory, with the given buckets. */
export class LocalS3 {
  private server: S3rverInstance | null = null;
  private directory = "";
  endpoint = "";

  constructor(private readonly buckets: string[]) {}

  async start(): Promise<this> {
    this.directory = mkdtempSync(join(tmpdir(), "s3rver-batch-"));
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- s3rver ships no types
    const S3rver = require("s3rver") as S3rverConstructor;
    this.server = new S3rver({
      address: "127.0.0.1",
      port: 0,
      silent: true,
      directory: this.directory,
      configureBuckets: this.buckets.map((name) => ({ name, configs: [] })),
    });
    const addr = await this.server.run();
    this.endpoint = `http://127.0.0.1:${addr.port}`;
    return this;
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await server.close();
    if (this.directory !== "") rmSync(this.directory, { recursive: true, force: true });
  }
}
