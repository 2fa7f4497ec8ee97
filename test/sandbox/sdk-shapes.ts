import path from 'node:path';
import ts from 'typescript';

/**
 * Checks runtime JSON against the `stripe` package's own TypeScript declarations, read with the
 * TypeScript compiler at test time: the sandbox's objects, its list and search results and every
 * event (`data.object`, `data.previous_attributes`) must have each field the SDK declares as
 * required, no field it does not declare, and only the enum values it lists.
 *
 * Strict where the SDK is lenient on purpose: enums are `'a' | 'b' | OtherString` so integrations
 * survive values added later; here `OtherString` is dropped, because a value the SDK does not list
 * is a sandbox bug (`ui_mode: 'hosted'` on an API version that calls it `hosted_page`).
 *
 * Why the compiler and not JSON schemas generated from the types: the declarations are the single
 * source, nothing is generated or cached, and branded types (`Stripe.Decimal`), recursive
 * expandables and the 250-member event union need no generator support.
 */
export interface ShapeError {
  path: string;
  message: string;
}

const ROOT = path.resolve(__dirname, '../..');

/** `object` values the sandbox serves, and the SDK type each is. */
const OBJECT_TYPES: Record<string, string> = {
  account: 'Partial<Stripe.Account>',
  balance_transaction: 'Stripe.BalanceTransaction',
  'billing_portal.session': 'Stripe.BillingPortal.Session',
  charge: 'Stripe.Charge',
  'checkout.session': 'Stripe.Checkout.Session',
  customer: 'Stripe.Customer | Stripe.DeletedCustomer',
  dispute: 'Stripe.Dispute',
  event: 'Stripe.Event',
  invoice: 'Stripe.Invoice',
  invoice_payment: 'Stripe.InvoicePayment',
  item: 'Stripe.LineItem',
  payment_intent: 'Stripe.PaymentIntent',
  payment_method: 'Stripe.PaymentMethod',
  price: 'Stripe.Price',
  product: 'Stripe.Product',
  refund: 'Stripe.Refund',
  setup_intent: 'Stripe.SetupIntent',
  subscription: 'Stripe.Subscription',
  webhook_endpoint: 'Stripe.WebhookEndpoint',
};

export class SdkShapes {
  private readonly checker: ts.TypeChecker;
  private readonly types = new Map<string, ts.Type>();
  private enabledEvent: ts.Type | undefined;

  constructor() {
    const file = path.join(ROOT, 'test/sandbox/__sdk_shapes__.ts');
    const aliases = Object.entries(OBJECT_TYPES).map(([, t], i) => `export type T${i} = ${t};`).join('\n');
    const source = `import Stripe from 'stripe';\n${aliases}\nexport type EnabledEvent = Stripe.WebhookEndpointCreateParams.EnabledEvent;\n`;
    const options: ts.CompilerOptions = {
      strict: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
      esModuleInterop: true,
      skipLibCheck: true,
      noEmit: true,
      types: [],
    };
    const host = ts.createCompilerHost(options);
    const read = host.getSourceFile.bind(host);
    host.getSourceFile = (name, languageVersion, onError, create) =>
      path.resolve(name) === file ? ts.createSourceFile(name, source, languageVersion, true) : read(name, languageVersion, onError, create);
    const exists = host.fileExists.bind(host);
    host.fileExists = (name) => path.resolve(name) === file || exists(name);
    const program = ts.createProgram([file], options, host);
    this.checker = program.getTypeChecker();
    const sf = program.getSourceFile(file);
    if (!sf) throw new Error('could not load the SDK declarations');
    const diagnostics = ts.getPreEmitDiagnostics(program, sf);
    if (diagnostics.length > 0) throw new Error(ts.flattenDiagnosticMessageText(diagnostics[0]?.messageText ?? '', '\n'));
    const names = Object.keys(OBJECT_TYPES);
    for (const stmt of sf.statements) {
      if (!ts.isTypeAliasDeclaration(stmt)) continue;
      if (stmt.name.text === 'EnabledEvent') {
        this.enabledEvent = this.checker.getTypeAtLocation(stmt.name);
        continue;
      }
      const index = Number(stmt.name.text.slice(1));
      this.types.set(names[index] as string, this.checker.getTypeAtLocation(stmt.name));
    }
  }

  /** The event types a webhook endpoint may subscribe to, as the SDK lists them (`*` excluded). */
  enabledEventTypes(): string[] {
    const type = this.enabledEvent;
    if (!type?.isUnion()) throw new Error('EnabledEvent is not a union of literals');
    return type.types.filter((t): t is ts.StringLiteralType => t.isStringLiteral()).map((t) => t.value).filter((v) => v !== '*').sort();
  }

  /** Object kinds this checker knows, for coverage assertions. */
  get objectNames(): string[] {
    return Object.keys(OBJECT_TYPES);
  }

  /** Validates an API object, list or search result by its `object` field. */
  check(value: unknown, where = '$'): ShapeError[] {
    const errors: ShapeError[] = [];
    if (value === null || typeof value !== 'object') return [{ path: where, message: 'not an object' }];
    const obj = value as Record<string, unknown>;
    if ((obj.object === 'list' || obj.object === 'search_result') && Array.isArray(obj.data)) {
      obj.data.forEach((item, i) => errors.push(...this.check(item, `${where}.data[${i}]`)));
      return errors;
    }
    const type = this.types.get(String(obj.object));
    if (!type) return [{ path: where, message: `no SDK type mapped for object '${String(obj.object)}'` }];
    this.validate(value, type, where, errors);
    return errors;
  }

  private validate(value: unknown, type: ts.Type, at: string, errors: ShapeError[]): void {
    const flags = type.flags;
    if (flags & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return;
    if (type.isUnion()) return this.validateUnion(value, type, at, errors);
    if (flags & ts.TypeFlags.Null) return expect(value === null, at, 'expected null', errors);
    if (flags & ts.TypeFlags.Undefined) return expect(value === undefined, at, 'expected no value', errors);
    if (type.isStringLiteral()) return expect(value === type.value, at, `expected '${type.value}', got ${JSON.stringify(value)}`, errors);
    if (type.isNumberLiteral()) return expect(value === type.value, at, `expected ${type.value}, got ${JSON.stringify(value)}`, errors);
    if (flags & ts.TypeFlags.BooleanLiteral) {
      const expected = this.checker.typeToString(type) === 'true';
      return expect(value === expected, at, `expected ${String(expected)}, got ${JSON.stringify(value)}`, errors);
    }
    if (flags & ts.TypeFlags.String) return expect(typeof value === 'string', at, `expected a string, got ${JSON.stringify(value)}`, errors);
    if (flags & ts.TypeFlags.Number) return expect(typeof value === 'number' && Number.isFinite(value), at, `expected a number, got ${JSON.stringify(value)}`, errors);
    if (flags & ts.TypeFlags.Boolean) return expect(typeof value === 'boolean', at, `expected a boolean, got ${JSON.stringify(value)}`, errors);
    if (this.isDecimal(type)) {
      return expect(typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value), at, `expected a decimal string, got ${JSON.stringify(value)}`, errors);
    }
    if (this.checker.isArrayType(type)) {
      if (!Array.isArray(value)) return void errors.push({ path: at, message: `expected an array, got ${JSON.stringify(value)}` });
      const element = this.checker.getTypeArguments(type as ts.TypeReference)[0];
      if (element) value.forEach((item, i) => this.validate(item, element, `${at}[${i}]`, errors));
      return;
    }
    if (type.isIntersection() && type.types.some((t) => t.flags & ts.TypeFlags.String)) {
      return expect(typeof value === 'string', at, `expected a string, got ${JSON.stringify(value)}`, errors);
    }
    if (flags & ts.TypeFlags.Object || type.isIntersection()) return this.validateObject(value, type, at, errors);
    errors.push({ path: at, message: `unsupported type ${this.checker.typeToString(type)}` });
  }

  private validateUnion(value: unknown, type: ts.UnionType, at: string, errors: ShapeError[]): void {
    const members = type.types.filter((t) => !this.isOtherString(t));
    if (value === null) return expect(members.some((t) => t.flags & ts.TypeFlags.Null), at, 'null where the SDK does not allow null', errors);
    if (value === undefined) return expect(members.some((t) => t.flags & ts.TypeFlags.Undefined), at, 'missing', errors);
    // Discriminate object members by their literal-typed fields (`object`, an event's `type`), so
    // the 250-member event union costs one member, not 250.
    const candidates = members.filter((t) => this.sameKind(value, t) && this.literalFieldsMatch(value, t));
    let best: ShapeError[] | undefined;
    for (const member of candidates) {
      const attempt: ShapeError[] = [];
      this.validate(value, member, at, attempt);
      if (attempt.length === 0) return;
      if (!best || attempt.length < best.length) best = attempt;
    }
    if (best) errors.push(...best);
    else errors.push({ path: at, message: `${JSON.stringify(value)?.slice(0, 80)} is none of ${this.describe(members)}` });
  }

  private validateObject(value: unknown, type: ts.Type, at: string, errors: ShapeError[]): void {
    if (value === null || typeof value !== 'object' || Array.isArray(value)) {
      return void errors.push({ path: at, message: `expected an object, got ${JSON.stringify(value)?.slice(0, 80)}` });
    }
    const obj = value as Record<string, unknown>;
    const props = this.checker.getPropertiesOfType(type);
    const known = new Set<string>();
    for (const prop of props) {
      const propType = this.checker.getTypeOfSymbol(prop);
      if (this.isFunction(propType)) continue;
      known.add(prop.name);
      const optional = (prop.flags & ts.SymbolFlags.Optional) !== 0;
      if (!(prop.name in obj)) {
        if (!optional) errors.push({ path: `${at}.${prop.name}`, message: 'required by the SDK type but missing' });
        continue;
      }
      this.validate(obj[prop.name], propType, `${at}.${prop.name}`, errors);
    }
    const index = this.checker.getIndexTypeOfType(type, ts.IndexKind.String);
    for (const key of Object.keys(obj)) {
      if (known.has(key)) continue;
      if (index) this.validate(obj[key], index, `${at}.${key}`, errors);
      else errors.push({ path: `${at}.${key}`, message: 'not declared by the SDK type' });
    }
  }

  /** Whether a union member could describe this JSON value at all (a string is never an object...). */
  private sameKind(value: unknown, type: ts.Type): boolean {
    const f = type.flags;
    if (f & (ts.TypeFlags.Any | ts.TypeFlags.Unknown)) return true;
    if (typeof value === 'string') return (f & (ts.TypeFlags.String | ts.TypeFlags.StringLiteral)) !== 0 || this.isDecimal(type) || (type.isIntersection() && type.types.some((t) => t.flags & ts.TypeFlags.String));
    if (typeof value === 'number') return (f & (ts.TypeFlags.Number | ts.TypeFlags.NumberLiteral)) !== 0;
    if (typeof value === 'boolean') return (f & (ts.TypeFlags.Boolean | ts.TypeFlags.BooleanLiteral)) !== 0;
    if (Array.isArray(value)) return this.checker.isArrayType(type);
    if (typeof value === 'object' && value !== null) {
      return ((f & ts.TypeFlags.Object) !== 0 || type.isIntersection()) && !this.checker.isArrayType(type) && !this.isDecimal(type) && !(type.isIntersection() && type.types.some((t) => t.flags & ts.TypeFlags.String));
    }
    return false;
  }

  private literalFieldsMatch(value: unknown, type: ts.Type): boolean {
    if (!(type.flags & ts.TypeFlags.Object)) return true;
    if (value === null || typeof value !== 'object' || Array.isArray(value)) return this.checker.isArrayType(type) === Array.isArray(value);
    const obj = value as Record<string, unknown>;
    for (const name of ['object', 'type', 'deleted']) {
      const prop = this.checker.getPropertyOfType(type, name);
      if (!prop) continue;
      const t = this.checker.getTypeOfSymbol(prop);
      if (t.isStringLiteral() && obj[name] !== t.value) return false;
      if (t.flags & ts.TypeFlags.BooleanLiteral && obj[name] !== (this.checker.typeToString(t) === 'true')) return false;
    }
    return true;
  }

  /** `OtherString` = `string & Record<never, never>`: the SDK's "any future enum value". */
  private isOtherString(type: ts.Type): boolean {
    return type.isIntersection() && type.types.some((t) => t.flags & ts.TypeFlags.String) && type.types.some((t) => this.checker.getPropertiesOfType(t).length === 0 && !(t.flags & ts.TypeFlags.String));
  }

  private isDecimal(type: ts.Type): boolean {
    const name = (type.aliasSymbol ?? type.getSymbol())?.getName();
    return name === 'Decimal' || name === 'DecimalImpl' || (type.isIntersection() && type.types.some((t) => this.isDecimal(t)));
  }

  private isFunction(type: ts.Type): boolean {
    return this.checker.getSignaturesOfType(type, ts.SignatureKind.Call).length > 0 && this.checker.getPropertiesOfType(type).length === 0;
  }

  private describe(types: ts.Type[]): string {
    return types.map((t) => this.checker.typeToString(t)).join(' | ').slice(0, 200);
  }
}

function expect(ok: boolean, at: string, message: string, errors: ShapeError[]): void {
  if (!ok) errors.push({ path: at, message });
}
