/**
 * The type of htm's browser module (its package's types describe the
 * CommonJS one, whose default export differs).
 *
 * @module
 */
declare const htm: {
  /** Binds the templates to a node maker such as Preact's `h`. */
  bind<R>(
    h: (
      type: unknown,
      props: Readonly<Record<string, unknown>> | null,
      ...children: unknown[]
    ) => R,
  ): (strings: TemplateStringsArray, ...values: unknown[]) => R | R[];
};
export default htm;
