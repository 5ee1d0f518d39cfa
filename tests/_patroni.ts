/**
 * A highly available PostgreSQL for the tests of the PostgreSQL store
 * (issue 19): three etcd 3.4 members and three PostgreSQL 15 nodes managed
 * by Patroni 3.0.2 with synchronous replication, all on 127.0.0.1 with free
 * ports in one fresh temporary directory. A test can kill the leader (its
 * Patroni and its PostgreSQL, SIGKILL: the node dies) and wait for Patroni
 * to promote the synchronous standby.
 *
 * Debian's packages: `postgresql`, `patroni` (with `python3-etcd`, which its
 * etcd3 support imports; apt picks it for patroni's "python3-etcd |
 * python3-consul | ..." dependency), `etcd-server`, `etcd-client`.
 *
 * Patroni 3.0.2 spellings used below (from its source,
 * /usr/lib/python3/dist-packages/patroni: config.py's defaults, validator.py,
 * ha.py; `patroni --validate-config FILE` checks a file):
 * - DCS section `etcd3` (gRPC gateway, v3 leases; `etcd` would be the v2 API,
 *   which etcd 3.4 disables unless started with `--enable-v2`), `hosts` as
 *   "host:port,host:port", `protocol: http`.
 * - Dynamic settings under `bootstrap.dcs`: `ttl`, `loop_wait`,
 *   `retry_timeout`, `maximum_lag_on_failover`, `synchronous_mode`,
 *   `synchronous_mode_strict`, `synchronous_node_count`,
 *   `postgresql.use_pg_rewind`, `postgresql.use_slots`. Patroni 3.0.2 has no
 *   quorum commit mode (`synchronous_mode: quorum` came later) and enforces
 *   no minimum `ttl` (later releases demand 20); keep
 *   `loop_wait + 2 * retry_timeout <= ttl`.
 * - `bootstrap.initdb` is a list of strings and one-key maps
 *   (`{auth-host: scram-sha-256}`); `bootstrap.users` is gone in 3.0, so
 *   the application's user and database are created through the leader
 *   once the cluster runs.
 * - `postgresql.authentication.{superuser,replication,rewind}.{username,password}`,
 *   `postgresql.pgpass` (default ~/pgpass: three nodes of one OS user would
 *   share it), `postgresql.pg_hba`, `postgresql.bin_dir`,
 *   `watchdog.mode: "off"` (quoted: bare off is YAML's false).
 * - REST API: `GET /primary` answers 200 only on the running primary,
 *   `GET /cluster` lists members with role `leader`, `sync_standby` or
 *   `replica`.
 * - `patroni --validate-config` in 3.0.2 rejects what runs fine here: a
 *   `connect_address` on 127.0.0.1, ports in use (by the running node), and
 *   a missing `bootstrap.pg_hba` (deprecated for `postgresql.pg_hba`).
 *
 * @module
 */
import { join } from "node:path";
import postgres from "postgres";
import {
  assertAvailable,
  chownToService,
  freePorts,
  killProcessesIn,
  LoggedProcess,
  PG_BIN,
  postgresMissing,
  randomPassword,
  removeDir,
  serviceCommand,
  serviceDir,
  waitFor,
  writeServiceFile,
} from "./_postgres.ts";

export const PATRONI = Deno.env.get("SHOP_PATRONI") ?? "/usr/bin/patroni";
export const ETCD = Deno.env.get("SHOP_ETCD") ?? "/usr/bin/etcd";
/** The Python package Patroni's etcd3 support imports. */
const PYTHON_ETCD = "/usr/lib/python3/dist-packages/etcd/__init__.py";
const INSTALL_HINT = "install them with " +
  "`apt-get install -y postgresql patroni python3-etcd etcd-server etcd-client`";

/** Failover settings: a dead leader's key expires within `ttl` seconds. */
const TTL_S = 10;
const LOOP_WAIT_S = 1;
const RETRY_TIMEOUT_S = 4;

const START_TIMEOUT_MS = 45_000;
const STOP_TIMEOUT_MS = 10_000;
const HTTP_TIMEOUT_MS = 1_000;

/** Why the Patroni tests cannot run here, or `undefined` when they can. */
export function patroniMissing(): string | undefined {
  const postgres = postgresMissing();
  if (postgres) return postgres;
  for (
    const [what, path] of [["patroni", PATRONI], ["etcd", ETCD], ["python3-etcd", PYTHON_ETCD]]
  ) {
    try {
      Deno.statSync(path!);
    } catch {
      return `No ${what} at ${path}; ${INSTALL_HINT}`;
    }
  }
  return undefined;
}

/** One Patroni-managed PostgreSQL node. */
export interface PatroniNode {
  /** Patroni's member name (also the standby's `application_name`). */
  readonly name: string;
  /** PostgreSQL's port on 127.0.0.1. */
  readonly port: number;
  /** Patroni's REST API port on 127.0.0.1. */
  readonly apiPort: number;
  /** The node's directory: Patroni's configuration and log, PostgreSQL's `data/`. */
  readonly dir: string;
  /** False once {@linkcode PatroniCluster.killLeader} killed it. */
  readonly alive: boolean;
}

interface Node extends PatroniNode {
  alive: boolean;
  patroni: LoggedProcess | undefined;
}

/** The bounds of one wait of the start. */
interface Wait {
  timeoutMs: number;
  signal?: AbortSignal;
  explain: () => Promise<string>;
}

/** A member in Patroni's GET /cluster. */
export interface Member {
  name: string;
  role: string;
  state: string;
}

/** The row of `pg_stat_replication` for one standby. */
export interface Replication {
  name: string;
  state: string;
  syncState: string;
}

/**
 * Three etcd members and three Patroni nodes. Credentials never appear in
 * {@linkcode url}; pass {@linkcode env} (`PGPASSWORD`) or the password.
 */
export class PatroniCluster implements AsyncDisposable {
  readonly #etcd: LoggedProcess[] = [];
  readonly #nodes: Node[] = [];
  readonly #superuserPassword = randomPassword();
  readonly #replicationPassword = randomPassword();
  readonly #rewindPassword = randomPassword();
  /** The application user's password; not in the URL. */
  readonly password = randomPassword();
  readonly user = "shop";
  readonly database = "shop";
  readonly scope = `shop-${crypto.randomUUID().slice(0, 8)}`;

  private constructor(readonly dir: string) {}

  /** The nodes, in the order of {@linkcode url}'s hosts. */
  get nodes(): readonly PatroniNode[] {
    return this.#nodes;
  }

  /**
   * `postgres://shop@127.0.0.1:p1,127.0.0.1:p2,127.0.0.1:p3/shop?target_session_attrs=primary`:
   * every node, of which a client takes the one that is primary (postgres.js
   * reads `target_session_attrs` from the URL or its option of that name;
   * libpq 14+ knows it too). No password.
   */
  get url(): string {
    const hosts = this.#nodes.map((node) => `127.0.0.1:${node.port}`).join(",");
    return `postgres://${this.user}@${hosts}/${this.database}?target_session_attrs=primary`;
  }

  /** The environment that gives a client the password (`PGPASSWORD`). */
  get env(): Record<string, string> {
    return { PGPASSWORD: this.password };
  }

  /** Starts etcd, then Patroni, and waits until a leader has a streaming synchronous standby. */
  static async create(
    options: { timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<PatroniCluster> {
    assertAvailable(patroniMissing());
    const cluster = new PatroniCluster(await serviceDir("shop-patroni-"));
    const deadline = Date.now() + (options.timeoutMs ?? START_TIMEOUT_MS);
    const ports = freePorts(12);
    const wait = () => ({
      timeoutMs: Math.max(0, deadline - Date.now()),
      signal: options.signal,
      explain: () => cluster.#logs(),
    });
    try {
      const [etcdClient, etcdPeer, pg, api] = [0, 3, 6, 9].map((at) => ports.slice(at, at + 3));
      await cluster.#startEtcd(etcdClient!, etcdPeer!, wait);
      await cluster.#startPatroni(pg!, api!, etcdClient!);
      await cluster.waitForLeader(wait());
      await waitFor("a synchronous standby named by Patroni and streaming", async () => {
        return await cluster.#synchronous() ? true : undefined;
      }, wait());
      await cluster.#createUser(await cluster.leader());
      // Synchronous commit waits for the standby's flush, not its replay; a
      // client trying the hosts in order fails on a standby that has not
      // replayed CREATE DATABASE yet (postgres.js does not try the next host
      // after an error), so wait until every node lets the user in.
      await waitFor("the user and database on every node", async () => {
        for (const node of cluster.#nodes) await cluster.#login(node);
        return true;
      }, wait());
    } catch (error) {
      await cluster[Symbol.asyncDispose]();
      throw error;
    }
    return cluster;
  }

  /**
   * Whether Patroni has named the synchronous standby in the DCS (role
   * `sync_standby`; until then a failover would not know which standby holds
   * every commit), every member runs, and the leader's PostgreSQL streams to
   * both standbys, synchronously to the named one. Streaming alone is not
   * enough: in strict mode the leader starts with synchronous_standby_names
   * = '*', which makes the first standby "sync" before Patroni has recorded
   * anything.
   */
  async #synchronous(): Promise<boolean> {
    const members = await this.members();
    const named = members.filter((member) => member.role === "sync_standby");
    const standbys = await this.replication();
    const streaming = standbys.filter((standby) => standby.state === "streaming");
    return members.length === 3 && members.every((member) => member.state === "running") &&
      named.length === 1 && streaming.length === 2 &&
      streaming.some((standby) => standby.name === named[0]!.name && standby.syncState === "sync");
  }

  async #startEtcd(clientPorts: number[], peerPorts: number[], wait: () => Wait): Promise<void> {
    const members = clientPorts.map((port, i) => ({
      name: `etcd${i + 1}`,
      client: `http://127.0.0.1:${port}`,
      peer: `http://127.0.0.1:${peerPorts[i]}`,
    }));
    const initial = members.map((member) => `${member.name}=${member.peer}`).join(",");
    for (const member of members) {
      const dir = join(this.dir, member.name);
      this.#etcd.push(
        await LoggedProcess.spawn(
          new Deno.Command(ETCD, {
            args: [
              `--name=${member.name}`,
              `--data-dir=${dir}`,
              `--listen-client-urls=${member.client}`,
              `--advertise-client-urls=${member.client}`,
              `--listen-peer-urls=${member.peer}`,
              `--initial-advertise-peer-urls=${member.peer}`,
              `--initial-cluster=${initial}`,
              `--initial-cluster-token=${this.scope}`,
              "--initial-cluster-state=new",
              "--logger=zap",
              "--log-level=warn",
            ],
            clearEnv: true,
            env: { PATH: "/usr/bin:/bin" },
            cwd: this.dir,
            stdin: "null",
            stdout: "null",
            stderr: "piped",
          }),
          `${dir}.log`,
        ),
      );
    }
    for (const member of members) {
      await waitFor(`${member.name} to be healthy`, async () => {
        const response = await fetch(`${member.client}/health`, {
          signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
        });
        const body = await response.json() as { health?: string };
        return body.health === "true" ? true : undefined;
      }, wait());
    }
  }

  async #startPatroni(pgPorts: number[], apiPorts: number[], etcdPorts: number[]): Promise<void> {
    const etcdHosts = etcdPorts.map((port) => `127.0.0.1:${port}`).join(",");
    for (const [i, port] of pgPorts.entries()) {
      const name = `node${i + 1}`;
      const dir = join(this.dir, name);
      await Deno.mkdir(dir, { mode: 0o700 });
      await chownToService(dir);
      const node: Node = {
        name,
        port,
        apiPort: apiPorts[i]!,
        dir,
        alive: true,
        patroni: undefined,
      };
      const config = join(dir, "patroni.yml");
      // JSON is YAML, and quoting keeps "off" a string.
      await writeServiceFile(config, JSON.stringify(this.#config(node, etcdHosts), null, 2));
      node.patroni = await LoggedProcess.spawn(
        serviceCommand(PATRONI, [config], { cwd: dir }),
        join(dir, "patroni.log"),
      );
      this.#nodes.push(node);
    }
  }

  #config(node: Node, etcdHosts: string): Record<string, unknown> {
    return {
      scope: this.scope,
      name: node.name,
      restapi: {
        listen: `127.0.0.1:${node.apiPort}`,
        connect_address: `127.0.0.1:${node.apiPort}`,
      },
      etcd3: { hosts: etcdHosts, protocol: "http" },
      bootstrap: {
        dcs: {
          ttl: TTL_S,
          loop_wait: LOOP_WAIT_S,
          retry_timeout: RETRY_TIMEOUT_S,
          maximum_lag_on_failover: 1048576,
          // synchronous_mode: Patroni names one standby in
          // synchronous_standby_names, records it in the DCS, and promotes
          // only that standby, which holds every acknowledged commit.
          synchronous_mode: true,
          // synchronous_mode_strict: with no synchronous standby left, the
          // primary blocks commits (synchronous_standby_names = '*') instead
          // of falling back to asynchronous replication. Non-strict mode would
          // keep accepting writes on one node and, worse, release commits
          // already waiting for the lost standby: acknowledged writes that
          // exist on one disk only. "Durable means durable" takes the
          // availability cost: writes need two of the three nodes.
          synchronous_mode_strict: true,
          synchronous_node_count: 1,
          postgresql: {
            // A standby that received WAL the new leader never had (the last,
            // unacknowledged commit) is rewound instead of stuck: with strict
            // mode, a stuck last standby would block every write.
            use_pg_rewind: true,
            use_slots: true,
            parameters: { wal_log_hints: "on", max_wal_senders: 10, max_replication_slots: 10 },
          },
        },
        initdb: [{ encoding: "UTF8" }, "data-checksums", { "auth-host": "scram-sha-256" }, {
          "auth-local": "trust",
        }],
      },
      postgresql: {
        listen: `127.0.0.1:${node.port}`,
        connect_address: `127.0.0.1:${node.port}`,
        data_dir: join(node.dir, "data"),
        bin_dir: PG_BIN,
        pgpass: join(node.dir, "pgpass"),
        authentication: {
          superuser: { username: "postgres", password: this.#superuserPassword },
          replication: { username: "replicator", password: this.#replicationPassword },
          rewind: { username: "rewinder", password: this.#rewindPassword },
        },
        parameters: {
          unix_socket_directories: node.dir,
          logging_collector: "on",
          // A standby retries its primary after this (default 5 s); after a
          // failover the new leader creates the standby's slot a moment
          // after the standby first asks for it.
          wal_retrieve_retry_interval: "500ms",
        },
        // Local connections only through the socket in the node's 0700 directory.
        pg_hba: [
          "local all all trust",
          "host replication replicator 127.0.0.1/32 scram-sha-256",
          "host all all 127.0.0.1/32 scram-sha-256",
        ],
      },
      watchdog: { mode: "off" },
      log: { level: "INFO" },
    };
  }

  async #createUser(leader: string): Promise<void> {
    await this.#asSuperuser(leader, async (sql) => {
      // Identifiers and hex passwords need no quoting beyond this.
      await sql.unsafe(`CREATE ROLE "${this.user}" LOGIN PASSWORD '${this.password}'`);
      await sql.unsafe(`CREATE DATABASE "${this.database}" OWNER "${this.user}"`);
    });
  }

  /** Logs in as the application's user to one node. */
  async #login(node: Node): Promise<void> {
    const sql = postgres({
      host: "127.0.0.1",
      port: node.port,
      database: this.database,
      user: this.user,
      password: this.password,
      max: 1,
      connect_timeout: 2,
      onnotice: () => {},
    });
    try {
      await sql`SELECT 1`;
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  async #asSuperuser<T>(name: string, use: (sql: postgres.Sql) => Promise<T>): Promise<T> {
    const sql = postgres({
      host: "127.0.0.1",
      port: this.#node(name).port,
      database: "postgres",
      user: "postgres",
      password: this.#superuserPassword,
      max: 1,
      connect_timeout: 2,
      onnotice: () => {},
    });
    try {
      return await use(sql);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }

  #node(name: string): Node {
    const node = this.#nodes.find((node) => node.name === name);
    if (!node) {
      throw new RangeError(`No node "${name}": expected one of ${this.#nodes.map((n) => n.name)}`);
    }
    return node;
  }

  /** Whether a node's Patroni answers 200 to GET /primary (it runs the primary). */
  async #isPrimary(node: Node): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${node.apiPort}/primary`, {
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      await response.body?.cancel();
      return response.status === 200;
    } catch {
      return false;
    }
  }

  /**
   * The name of the node that is primary now, asking each live node's
   * Patroni REST API (GET /primary).
   *
   * @throws {Error} When no node, or more than one, says it is primary.
   */
  async leader(): Promise<string> {
    const live = this.#nodes.filter((node) => node.alive);
    const answers = await Promise.all(live.map((node) => this.#isPrimary(node)));
    const primaries = live.filter((_, i) => answers[i]);
    if (primaries.length !== 1) {
      throw new Error(
        `Expected one primary, found ${primaries.length}${
          primaries.length ? `: ${primaries.map((node) => node.name).join(", ")}` : ""
        }`,
      );
    }
    return primaries[0]!.name;
  }

  /**
   * Waits until one node is primary, other than `not` when given.
   *
   * @returns Its name.
   */
  waitForLeader(
    options: { not?: string; timeoutMs?: number; signal?: AbortSignal } = {},
  ): Promise<string> {
    return waitFor(`a leader${options.not ? ` other than ${options.not}` : ""}`, async () => {
      const name = await this.leader();
      return name === options.not ? undefined : name;
    }, {
      timeoutMs: options.timeoutMs ?? START_TIMEOUT_MS,
      intervalMs: 100,
      signal: options.signal,
      explain: () => this.#logs(),
    });
  }

  /**
   * The members as Patroni's DCS sees them (GET /cluster on the leader):
   * role `leader`, `sync_standby` or `replica`, state `running`,
   * `starting`, ...
   */
  async members(): Promise<Member[]> {
    const { apiPort } = this.#node(await this.leader());
    const response = await fetch(`http://127.0.0.1:${apiPort}/cluster`, {
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    if (!response.ok) {
      await response.body?.cancel();
      throw new Error(`Patroni answered GET /cluster with status ${response.status}`);
    }
    const body = await response.json() as { members?: Member[] };
    return (body.members ?? []).map(({ name, role, state }) => ({ name, role, state }));
  }

  /** The standbys that the leader replicates to, from its `pg_stat_replication`. */
  async replication(): Promise<Replication[]> {
    type Row = { application_name: string; state: string; sync_state: string };
    const rows = await this.#asSuperuser(
      await this.leader(),
      (sql) => sql<Row[]>`SELECT application_name, state, sync_state FROM pg_stat_replication`,
    );
    return rows.map((row) => ({
      name: row.application_name,
      state: row.state,
      syncState: row.sync_state,
    }));
  }

  /** The names of the leader's synchronous standbys (`sync_state` "sync" in `pg_stat_replication`). */
  async syncStandbys(): Promise<string[]> {
    const standbys = await this.replication();
    return standbys.filter((standby) => standby.syncState === "sync").map(({ name }) => name);
  }

  /**
   * Kills the leader node: SIGKILL to its Patroni, then to its PostgreSQL
   * (postmaster and backends), so nothing of it answers or renews the
   * leader key; the key expires within `ttl` (10 s).
   *
   * @returns The killed node's name.
   */
  async killLeader(): Promise<string> {
    const node = this.#node(await this.leader());
    await this.#kill(node);
    return node.name;
  }

  async #kill(node: Node): Promise<void> {
    node.alive = false;
    node.patroni?.signal("SIGKILL");
    await killProcessesIn(node.dir);
    await node.patroni?.finish(STOP_TIMEOUT_MS);
    node.patroni = undefined;
  }

  /** The last lines of every log, for an error message. */
  async #logs(): Promise<string> {
    const logs = await Promise.all([
      ...this.#nodes.map(async (node) =>
        node.patroni
          ? `--- ${node.name} (${node.patroni.log}):\n${await node.patroni.tail(15)}`
          : ""
      ),
      ...this.#etcd.map(async (etcd) => `--- ${etcd.log}:\n${await etcd.tail(5)}`),
    ]);
    return logs.filter(Boolean).join("\n");
  }

  /**
   * Kills every process of the cluster (Patroni, PostgreSQL, etcd) and
   * removes the directory (kept with SHOP_KEEP_TEST_DATA). SIGKILL, not a
   * clean stop: the data is thrown away, and a clean stop takes seconds
   * (each Patroni releases its key and stops PostgreSQL; etcd members hand
   * over leadership one after another).
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const processes = [...this.#nodes.map((node) => node.patroni), ...this.#etcd];
    for (const process of processes) process?.signal("SIGKILL");
    try {
      await killProcessesIn(this.dir);
    } finally {
      await Promise.all(processes.map((process) => process?.finish(STOP_TIMEOUT_MS)));
      for (const node of this.#nodes) {
        node.alive = false;
        node.patroni = undefined;
      }
      await removeDir(this.dir);
    }
  }
}

/**
 * Starts three etcd members and three Patroni-managed PostgreSQL nodes with
 * synchronous replication; hold the cluster with `await using`.
 *
 * @throws {ServiceMissing} When PostgreSQL, Patroni or etcd is not installed.
 * @example
 * ```ts
 * await using cluster = await startPatroniCluster();
 * const sql = postgres(cluster.url, { password: cluster.password });
 * const killed = await cluster.killLeader();
 * await cluster.waitForLeader({ not: killed, timeoutMs: 30_000 });
 * ```
 */
export function startPatroniCluster(
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<PatroniCluster> {
  return PatroniCluster.create(options);
}
