/**
 * Where the peer's registration stands, in one table. The state is not a
 * field: it is read from the fields registration keeps (`registered`, the
 * REGISTER and DE-REGISTER requests `pending`), and the agent checks it
 * after every event that changed it.
 *
 * ```
 * not_registered ──► registering ──► registered ──► deregistering ──► not_registered
 *                       │    ▲            │  ▲            │
 *                       │    └────────────┘  └────────────┘ (DE-REGISTER-DENIED, no answer)
 *                       │      (restart)
 *                       └──► registering_classic ──► registered, not_registered
 * ```
 *
 * @module
 */
import { type MoveGuard, Transitions } from "../../protocol/transitions.ts";

/** Where the registration stands. */
export type RegistrationState =
  | "not_registered"
  | "registering"
  | "registering_classic"
  | "registered"
  | "deregistering";

/** The states each state may move to (one event may make several moves: the table lists their sum). */
export const REGISTRATION_TRANSITIONS: Readonly<
  Record<RegistrationState, readonly RegistrationState[]>
> = {
  // register.
  not_registered: ["registering"],
  // REGISTERED; a classic REGISTER alone (the unsigned retry, or the one
  // beside an unanswered one); REGISTER-DENIED or no answer.
  // deregister typed while the REGISTER awaits its answer (found by the
  // simulator at 10,000 seeds).
  registering: ["registered", "registering_classic", "not_registered", "deregistering"],
  registering_classic: ["registered", "not_registered"],
  // A restart's REGISTER; deregister.
  registered: ["registering", "deregistering"],
  // DE-REGISTERED (with a REGISTER sent meanwhile, registering); DE-REGISTER-DENIED or no answer.
  deregistering: ["not_registered", "registering", "registered"],
};

/** The table as a machine: the agent checks every change of the registration with it. */
export const REGISTRATION_MOVES: Transitions<RegistrationState> = new Transitions(
  "registration",
  REGISTRATION_TRANSITIONS,
  {
    initial: ["not_registered"],
    stay: true,
    source: "peer/agent/registration_states.ts",
    afterTheFact: true,
  },
);

/** What the state is read from: the agent's registration fields. */
export interface RegistrationFields {
  readonly registered: boolean;
  readonly pending: ReadonlyMap<string, { readonly type: string; readonly extended?: boolean }>;
}

/** The state registration's fields say. */
export function registrationState(fields: RegistrationFields): RegistrationState {
  const pending = [...fields.pending.values()];
  if (pending.some((request) => request.type === "DE-REGISTER")) return "deregistering";
  const registers = pending.filter((request) => request.type === "REGISTER");
  if (registers.length === 0) return fields.registered ? "registered" : "not_registered";
  return registers.some((request) => request.extended) ? "registering" : "registering_classic";
}

/**
 * Checks the registration's move over one event, from `before` to what
 * `fields` say now. Spread over fields, the change is made already: in
 * production it can only be logged, not refused.
 *
 * @throws {RangeError} If the move is not in the table and `guard.strict`.
 */
export function checkRegistration(
  before: RegistrationState,
  fields: RegistrationFields,
  guard: MoveGuard,
): void {
  REGISTRATION_MOVES.move(before, registrationState(fields), guard);
}
