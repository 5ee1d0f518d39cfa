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
}

/** `UDP 127.0.0.1:5000`, `TCP [::1]:6000`. */
function where(plan: PlannedListen): string {
  const host = plan.hostname.includes(":") ? `[${plan.hostname}]` : plan.hostname;
  return `${plan.transport.toUpperCase()} ${host}:${plan.port}`;
}

/**
 * Why a socket cannot listen there, as a sentence that says what to change.
 *
 * @example
 * ```ts
 * listenError(new Deno.errors.AddrInUse(), plan);
 * // "Cannot listen on UDP 127.0.0.1:5000: the port is in use (give another with --port)"
 * ```
 */
export function listenError(error: unknown, plan: PlannedListen): string {
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
