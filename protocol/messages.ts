/**
 * Every message of the classic P2S2 protocol (../shared/PROTOCOL.md) as a zod
 * schema, with the order its fields take on the wire. The TypeScript types
 * are inferred from these schemas.
 *
 * @module
 */
import { z } from "zod";
import {
  CatalogueEntries,
  Cookie,
  Count,
  Extensions,
  Ip,
  Item,
  Name,
  Port,
  Price,
  Quantity,
  RequiredText,
  Rq,
  Text,
} from "./fields.ts";
import { CardExpiry, CardNumber } from "./payment.ts";

/** Where a message travels: datagrams or the transaction's TCP stream. */
export type Channel = "udp" | "tcp";

/**
 * How a message's fields sit on the wire, written as in PROTOCOL.md:
 * `"rq name item description... maxPrice"`. A field ending in `...` takes
 * every token the fixed fields before and after it leave over (zero or more,
 * its schema decides whether empty is allowed). `[from seller]` is an
 * optional literal word followed by a field, at the end. In a layout without
 * a `...` field, one field may be marked as absent on the wire from some
 * classic implementations (PROTOCOL.md's robustness rule): `[maxPrice]` is
 * read when the message has one token more than the other fields and written
 * when present; `{sender}` is read the same way but never written (our side
 * never sends it). Such a field may be followed by a `[word field]` suffix
 * (NOT_AVAILABLE's `[silent silentPrice]`), told apart by its word.
 */
export type Layout = string;

function message<
  const T extends string,
  const S extends z.core.$ZodLooseShape,
>(type: T, shape: S) {
  return z.strictObject({ type: z.literal(type), ...shape });
}

// Peer -> server (UDP)
export const Register = message("REGISTER", {
  rq: Rq,
  name: Name,
  ip: Ip,
  udpPort: Port,
  tcpPort: Port,
  /** Features our own peer offers; absent from classic peers. */
  extensions: Extensions.optional(),
});
export const DeRegister = message("DE-REGISTER", { rq: Rq, name: Name });
/**
 * The item name as a classic peer wrote it, when that is not its composed
 * form (`Cafe\u0301` for `Caf\u00e9`): decoded beside the composed `item`,
 * and written in its place. The server passes a buyer's spelling on in the
 * SEARCH to classic sellers, which compare item names byte for byte.
 */
const Spelling = z.string().optional();

export const LookingFor = message("LOOKING_FOR", {
  rq: Rq,
  name: Name,
  item: Item,
  description: Text,
  maxPrice: Price,
  spelling: Spelling,
});
export const Offer = message("OFFER", {
  rq: Rq,
  name: Name,
  item: Item,
  price: Price,
});
/**
 * The name some classic peers put after the RQ# of BUY, CANCEL, ACCEPT and
 * REFUSE (`BUY rq Name item price`). It is only read, never written: the
 * server should check that it is the sender's registered name.
 */
const Sender = Name.optional();

export const Accept = message("ACCEPT", {
  rq: Rq,
  item: Item,
  maxPrice: Price,
  sender: Sender,
});
export const Refuse = message("REFUSE", {
  rq: Rq,
  item: Item,
  maxPrice: Price,
  sender: Sender,
});
export const Buy = message("BUY", { rq: Rq, item: Item, price: Price, sender: Sender });
/** CANCEL over UDP: a buyer declining FOUND, or the server releasing a seller. */
export const Cancel = message("CANCEL", { rq: Rq, item: Item, price: Price, sender: Sender });

// Server -> peer (UDP)
export const Registered = message("REGISTERED", {
  rq: Rq,
  /** Features our own server accepted; absent from classic servers. */
  extensions: Extensions.optional(),
});
export const RegisterDenied = message("REGISTER-DENIED", {
  rq: Rq,
  reason: RequiredText,
});
/** Some classic servers add the peer's name (`DE-REGISTERED rq Name`): read, never written. */
export const DeRegistered = message("DE-REGISTERED", { rq: Rq, name: Name.optional() });
export const DeRegisterDenied = message("DE-REGISTER-DENIED", {
  rq: Rq,
  reason: RequiredText,
});
export const Search = message("SEARCH", {
  rq: Rq,
  item: Item,
  description: Text,
  spelling: Spelling,
});
export const Found = message("FOUND", {
  rq: Rq,
  item: Item,
  price: Price,
  seller: Name.optional(),
});
/** No offer arrived; some classic servers leave out the max price. */
export const NotAvailable = message("NOT_AVAILABLE", {
  rq: Rq,
  item: Item,
  maxPrice: Price.optional(),
  /**
   * The price of the cheapest listing within the max whose seller did not
   * answer its RESERVE (extension `book`): `silent PRICE` at the end.
   */
  silentPrice: Price.optional(),
});
export const Reserve = message("RESERVE", { rq: Rq, item: Item, price: Price });
export const Negotiate = message("NEGOTIATE", {
  rq: Rq,
  item: Item,
  maxPrice: Price,
});
/** Negotiation failed; some classic servers leave out the max price. */
export const NotFound = message("NOT_FOUND", {
  rq: Rq,
  item: Item,
  maxPrice: Price.optional(),
});

// Transaction (TCP)
export const InformReq = message("INFORM_Req", {
  rq: Rq,
  item: Item,
  price: Price,
});
export const InformRes = message("INFORM_Res", {
  rq: Rq,
  name: Name,
  card: CardNumber,
  expiry: CardExpiry,
  address: RequiredText,
});
export const ShippingInfo = message("Shipping_Info", {
  rq: Rq,
  name: Name,
  address: RequiredText,
});
/**
 * CANCEL on the TCP leg: the transaction failed. Its wire keyword is
 * `CANCEL` like the datagram one; `TX_CANCEL` only names it inside the
 * program so the union can tell the two apart.
 */
export const TxCancel = message("TX_CANCEL", { rq: Rq, reason: RequiredText });

// Extensions between our own peers and server (PROTOCOL.md, "Extensions of
// this implementation"); a classic peer or server never receives them.

/** Requests our peers send again until the server acknowledges them (extension `ack`). */
const ACKED_REQUEST_TYPES = [
  "LOOKING_FOR",
  "OFFER",
  "NO_OFFER",
  "ACCEPT",
  "REFUSE",
  "BUY",
  "CANCEL",
  "LIST",
  "ALIVE",
  "BROWSE",
] as const;

/** What the server sends our peers again until they acknowledge it (extension `ack`). */
const RELIABLE_SEND_TYPES = [
  "SEARCH",
  "FOUND",
  "RESERVE",
  "NEGOTIATE",
  "NOT_AVAILABLE",
  "NOT_FOUND",
  "CANCEL",
  "CATALOGUE",
] as const;

/** The datagram keywords an ACK may acknowledge: either list, CANCEL once. */
const ACKABLE = [...new Set([...ACKED_REQUEST_TYPES, ...RELIABLE_SEND_TYPES])];

/** Requests our peers send again until the server acknowledges them (extension `ack`). */
export const ACKED_REQUESTS: ReadonlySet<string> = new Set(ACKED_REQUEST_TYPES);

/** What the server sends our peers again until they acknowledge it (extension `ack`). */
export const RELIABLE_SENDS: ReadonlySet<string> = new Set(RELIABLE_SEND_TYPES);

/** Acknowledges a datagram, naming its RQ# and type, so it is not sent again. */
export const Ack = message("ACK", {
  rq: Rq,
  of: z.enum(ACKABLE, { error: `expected one of ${ACKABLE.join(", ")}` }),
});
/**
 * ACK on the TCP leg: our peer stored the Shipping_Info of this RQ# (the
 * sale, or the buyer's receipt), so the server counts it as delivered.
 * Its wire keyword is `ACK` like the datagram one.
 */
export const TxAck = message("TX_ACK", { rq: Rq, of: z.literal("Shipping_Info") });
/** A seller's explicit "I do not have it", so a search can end early. */
export const NoOffer = message("NO_OFFER", { rq: Rq, name: Name, item: Item });
/** The server refuses a request of our peer, saying why (e.g. a cap reached). */
export const Denied = message("DENIED", { rq: Rq, reason: RequiredText });
/**
 * The server asks a signed REGISTER to come again with this cookie signed
 * in: proof that the peer receives at its source address (extension
 * `auth`; see security/cookie.ts).
 */
export const Retry = message("RETRY", { rq: Rq, cookie: Cookie });

// The offer book (extension `book`).

/**
 * A seller's listing, set as a whole: `quantity` 0 withdraws it. `seq`
 * grows with each change the peer makes, so a late copy of an older
 * change is ignored. Never the floor: it stays with the seller.
 */
export const List = message("LIST", {
  rq: Rq,
  name: Name,
  seq: Count,
  item: Item,
  price: Price,
  quantity: Quantity,
  description: Text,
});
/** A peer's keep-alive: it is online, though it has nothing else to say. */
export const Alive = message("ALIVE", { rq: Rq, name: Name });
/** Asks for the catalogue of item names starting with `prefix`, from entry `from` on. */
export const Browse = message("BROWSE", { rq: Rq, name: Name, from: Count, prefix: Text });
/**
 * One page of the catalogue: `next` is the index of the entry after this
 * page, `total` how many entries match (`next` = `total` on the last page).
 */
export const Catalogue = message("CATALOGUE", {
  rq: Rq,
  next: Count,
  total: Count,
  entries: CatalogueEntries,
});

/** Any P2S2 message, told apart by `type`. */
export const Message = z.discriminatedUnion("type", [
  Register,
  DeRegister,
  LookingFor,
  Offer,
  Accept,
  Refuse,
  Buy,
  Cancel,
  Registered,
  RegisterDenied,
  DeRegistered,
  DeRegisterDenied,
  Search,
  Found,
  NotAvailable,
  Reserve,
  Negotiate,
  NotFound,
  InformReq,
  InformRes,
  ShippingInfo,
  TxCancel,
  Ack,
  TxAck,
  NoOffer,
  Denied,
  Retry,
  List,
  Alive,
  Browse,
  Catalogue,
]);

/** A decoded P2S2 message. */
export type Message = z.output<typeof Message>;
/** The name of a message type as the program knows it. */
export type MessageType = Message["type"];
/** The message of one type. */
export type MessageOf<T extends MessageType> = Extract<Message, { type: T }>;

interface Spec {
  readonly schema: z.ZodType<Message, Record<string, unknown>>;
  readonly keyword: string;
  readonly channel: Channel;
  readonly layout: Layout;
}

function spec(
  schema: z.ZodType,
  channel: Channel,
  layout: Layout,
  keyword?: string,
): Spec {
  const type = (schema as typeof Register).shape.type.value;
  return {
    schema: schema as Spec["schema"],
    keyword: keyword ?? type,
    channel,
    layout,
  };
}

/** Each message type's wire keyword, channel and field order. */
export const SPECS: Readonly<Record<MessageType, Spec>> = {
  "REGISTER": spec(Register, "udp", "rq name ip udpPort tcpPort extensions..."),
  "DE-REGISTER": spec(DeRegister, "udp", "rq name"),
  "LOOKING_FOR": spec(LookingFor, "udp", "rq name item description... maxPrice"),
  "OFFER": spec(Offer, "udp", "rq name item price"),
  "ACCEPT": spec(Accept, "udp", "rq {sender} item maxPrice"),
  "REFUSE": spec(Refuse, "udp", "rq {sender} item maxPrice"),
  "BUY": spec(Buy, "udp", "rq {sender} item price"),
  "CANCEL": spec(Cancel, "udp", "rq {sender} item price"),
  "REGISTERED": spec(Registered, "udp", "rq extensions..."),
  "REGISTER-DENIED": spec(RegisterDenied, "udp", "rq reason..."),
  "DE-REGISTERED": spec(DeRegistered, "udp", "rq {name}"),
  "DE-REGISTER-DENIED": spec(DeRegisterDenied, "udp", "rq reason..."),
  "SEARCH": spec(Search, "udp", "rq item description..."),
  "FOUND": spec(Found, "udp", "rq item price [from seller]"),
  "NOT_AVAILABLE": spec(NotAvailable, "udp", "rq item [maxPrice] [silent silentPrice]"),
  "RESERVE": spec(Reserve, "udp", "rq item price"),
  "NEGOTIATE": spec(Negotiate, "udp", "rq item maxPrice"),
  "NOT_FOUND": spec(NotFound, "udp", "rq item [maxPrice]"),
  "INFORM_Req": spec(InformReq, "tcp", "rq item price"),
  "INFORM_Res": spec(InformRes, "tcp", "rq name card expiry address..."),
  "Shipping_Info": spec(ShippingInfo, "tcp", "rq name address..."),
  "TX_CANCEL": spec(TxCancel, "tcp", "rq reason...", "CANCEL"),
  "ACK": spec(Ack, "udp", "rq of"),
  "TX_ACK": spec(TxAck, "tcp", "rq of", "ACK"),
  "NO_OFFER": spec(NoOffer, "udp", "rq name item"),
  "DENIED": spec(Denied, "udp", "rq reason..."),
  "RETRY": spec(Retry, "udp", "rq cookie"),
  "LIST": spec(List, "udp", "rq name seq item price quantity description..."),
  "ALIVE": spec(Alive, "udp", "rq name"),
  "BROWSE": spec(Browse, "udp", "rq name from prefix..."),
  "CATALOGUE": spec(Catalogue, "udp", "rq next total entries..."),
};

/** The keyword a message type is written with on the wire. */
export function keywordOf(type: MessageType): string {
  return SPECS[type].keyword;
}
