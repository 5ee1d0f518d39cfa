/**
 * A look at the ports a command will listen on, before it creates or
 * touches anything: a port in use is named, with the option that changes
 * it, instead of surfacing as `AddrInUse` after the data directory exists.
 *
 * @module
 */

/** One socket a command will listen on, and the option that sets its port. */
export interface PlannedListen {
  readonly transport: "udp" | "tcp";
  readonly hostname: string;
  readonly port: number;
  /** The option that sets the port, like `--port`. */
  readonly portOption: string;
  /** The option that sets the address, like `--host`. */
  readonly hostOption: string;
  /**
   * What a page's socket serves, like `the page`: its option (`portOption`)
   * takes an address, `HOST:PORT`, and the error says so.
   */
  readonly serves?: string;
}

/** `UDP 127.0.0.1:5000`, `TCP [::1]:6000`. */
function where(plan: PlannedListen): string {
  const host = plan.hostname.includes(":") ? `[${plan.hostname}]` : plan.hostname;
  return `${plan.transport.toUpperCase()} ${host}:${plan.port}`;
}

/** `127.0.0.1:8080`, `[::1]:8080`. */
function hostPort(hostname: string, port: number | string): string {
  return `${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
}

/** Why a page's socket cannot listen there; its option takes `HOST:PORT`. */
function pageListenError(error: unknown, plan: PlannedListen & { serves: string }): string {
  const prefix = `Cannot listen on ${hostPort(plan.hostname, plan.port)} for ${plan.serves}`;
  const otherPort = `choose another with ${plan.portOption} ${hostPort(plan.hostname, "PORT")}`;
  if (error instanceof Deno.errors.AddrInUse) return `${prefix}: the port is in use; ${otherPort}`;
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `${prefix}: the address is not one of this machine's; choose another with ${plan.portOption} ${
      hostPort("HOST", plan.port)
    }`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `${prefix}: permission denied (ports below 1024 need privileges); ${otherPort}`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `${prefix}: this program may not use the network there (its --allow-net)`;
  }
  const text = error instanceof Error ? error.message : String(error);
  return `${prefix}: ${text.replace(/ \(os error \d+\).*$/, "")}`;
}

/**
 * Why a socket cannot listen there, as a sentence that says what to change.
 *
 * @example
 * ```ts
 * listenError(new Deno.errors.AddrInUse(), plan);
 * // "Cannot listen on UDP 127.0.0.1:5000: the port is in use (give another with --port)"
 * listenError(new Deno.errors.AddrInUse(), { ...page, port: 8080, serves: "the page" });
 * // "Cannot listen on 127.0.0.1:8080 for the page: the port is in use; choose another with --web 127.0.0.1:PORT"
 * ```
 */
export function listenError(error: unknown, plan: PlannedListen): string {
  if (plan.serves !== undefined) return pageListenError(error, { ...plan, serves: plan.serves });
  const prefix = `Cannot listen on ${where(plan)}`;
  if (error instanceof Deno.errors.AddrInUse) {
    return `${prefix}: the port is in use (give another with ${plan.portOption})`;
  }
  if (error instanceof Deno.errors.AddrNotAvailable) {
    return `${prefix}: the address is not one of this machine's (give another with ${plan.hostOption})`;
  }
  if (error instanceof Deno.errors.PermissionDenied) {
    return `${prefix}: permission denied (ports below 1024 need privileges; give another with ${plan.portOption})`;
  }
  if (error instanceof Deno.errors.NotCapable) {
    return `${prefix}: this program may not use the network there (its --allow-net)`;
  }
  const text = error instanceof Error ? error.message : String(error);
  return `${prefix}: ${text.replace(/ \(os error \d+\).*$/, "")}`;
}

/**
 * Binds each planned socket for a moment and closes it again.
 *
 * @returns The first problem as a sentence, or `undefined` when all are free.
 */
export function checkListen(plans: readonly PlannedListen[]): string | undefined {
  for (const plan of plans) {
    try {
      const socket = plan.transport === "udp"
        ? Deno.listenDatagram({ transport: "udp", hostname: plan.hostname, port: plan.port })
        : Deno.listen({ transport: "tcp", hostname: plan.hostname, port: plan.port });
      socket.close();
    } catch (error) {
      return listenError(error, plan);
    }
  }
  return undefined;
}
