// What a client's code does with the generated types: the compiler (strict) checks that the
// operations' results and variables have the types the API documents (docs/clients.md).
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import {
  AttendanceBoardDocument,
  CampaignFunnelDocument,
  CreateMarketingContactDocument,
  CheckInDocument,
  CompleteTotpLoginDocument,
  ConvertLeadDocument,
  DirectoryDocument,
  EmployeeCardDocument,
  LoginDocument,
  MeDocument,
  MyTimerDocument,
  PipelineBoardDocument,
  OpenInvoicesDocument,
  TrialBalanceDocument,
  PostJournalEntryDocument,
  PostInvoiceDocument,
  PipelineBoardMovesDocument,
  ProjectsDocument,
  StartTaskTimerDocument,
  TimesheetDocument,
} from "../generated/graphql";
import type {
  BoardChange,
  CampaignStatus,
  MarketingContactStatus,
  ClientStatus,
  EmployeeStatus,
  InvoiceKind,
  InvoiceStatus,
  LeadStatus,
  MfaMethod,
  OpportunityStatus,
  PunchKind,
  TimerState,
  UserStatus,
} from "../generated/graphql";

type ResultOf<D> = D extends TypedDocumentNode<infer R, any> ? R : never;
type VariablesOf<D> = D extends TypedDocumentNode<any, infer V> ? V : never;
/** Compiles only when A and B are the same type. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
function same<A, B>(proof: Same<A, B>): void {
  void proof;
}

// Employee: instants and days are strings, money a Decimal string with its currency, closed
// sets are string unions.
type Card = NonNullable<ResultOf<typeof EmployeeCardDocument>["employee"]>;
same<Card["hiredOn"], string>(true);
same<Card["createdAt"], string>(true);
same<Card["status"], EmployeeStatus>(true);
same<EmployeeStatus extends string ? true : false, true>(true);
same<NonNullable<NonNullable<Card["compensation"]>["salary"]>["amount"], string>(true);
same<VariablesOf<typeof EmployeeCardDocument>["day"], string | null | undefined>(true);
const page = (r: ResultOf<typeof DirectoryDocument>): string | null | undefined =>
  r.employees?.pageInfo.endCursor;
type Punch = NonNullable<ResultOf<typeof CheckInDocument>["checkIn"]>;
same<Punch["kind"], PunchKind>(true);
same<Punch["at"], string>(true);
const punch: VariablesOf<typeof CheckInDocument> = {
  input: { punchKey: "7d8f-1", source: "WEB" },
};
type BoardEvent = ResultOf<typeof AttendanceBoardDocument>["attendanceBoard"];
same<BoardEvent["occurredAt"], string>(true);
same<BoardEvent["punchKind"], "IN" | "OUT">(true);

// Identity.
type Me = NonNullable<ResultOf<typeof MeDocument>["me"]>;
same<Me["status"], UserStatus>(true);
same<ResultOf<typeof LoginDocument>["login"]["mfaMethods"], Array<MfaMethod>>(true);
same<ResultOf<typeof CompleteTotpLoginDocument>["completeTotpLogin"]["expiresIn"], number>(true);

// PMO.
type Project = NonNullable<ResultOf<typeof ProjectsDocument>["projects"]>["nodes"][number];
same<NonNullable<Project["budget"]>["amount"], string>(true);
same<NonNullable<Project["budget"]>["currency"], string>(true);
same<VariablesOf<typeof TimesheetDocument>["week"], string>(true);
type Sheet = NonNullable<ResultOf<typeof TimesheetDocument>["timesheet"]>;
same<Sheet["days"][number]["date"], string>(true);
type Timer = NonNullable<ResultOf<typeof StartTaskTimerDocument>["startTaskTimer"]>;
same<Timer["state"], TimerState>(true);
same<ResultOf<typeof MyTimerDocument>["myTimer"]["at"], string>(true);

// CRM: amounts are Decimal strings with their currency, days and instants strings, closed sets
// string unions.
type Board = NonNullable<ResultOf<typeof PipelineBoardDocument>["pipelineBoard"]>;
same<Board["forecast"][number]["amount"], string>(true);
type BoardCard = Board["stages"][number]["cards"]["nodes"][number];
same<BoardCard["status"], OpportunityStatus>(true);
same<BoardCard["expectedClose"], string | null>(true);
same<BoardCard["stageEnteredAt"], string>(true);
type Converted = ResultOf<typeof ConvertLeadDocument>["convertLead"];
same<Converted["lead"]["status"], LeadStatus>(true);
same<Converted["client"]["status"], ClientStatus>(true);
same<Converted["opportunity"]["amount"]["amount"], string>(true);
type Move = ResultOf<typeof PipelineBoardMovesDocument>["pipelineBoard"];
same<Move["change"], BoardChange>(true);
same<Move["at"], string>(true);

// Finance: amounts are Decimal strings beside their ISO 4217 code, never floats; days strings;
// closed sets string unions; a replayed idempotent post says so. Root fields are nullable (a
// field the token's scopes deny is null with its error).
type OpenInvoice = NonNullable<ResultOf<typeof OpenInvoicesDocument>["invoices"]>["nodes"][number];
same<OpenInvoice["kind"], InvoiceKind>(true);
same<OpenInvoice["status"], InvoiceStatus>(true);
same<OpenInvoice["outstanding"]["amount"], string>(true);
same<OpenInvoice["dueDate"], string>(true);
same<OpenInvoice["number"], number | null>(true);
same<OpenInvoice["postedAt"], string | null>(true);
same<NonNullable<ResultOf<typeof TrialBalanceDocument>["trialBalance"]>["balanced"], boolean>(true);
same<VariablesOf<typeof TrialBalanceDocument>["to"], string>(true);
same<VariablesOf<typeof PostJournalEntryDocument>["input"]["lines"][number]["debit"], string | null | undefined>(true);
same<NonNullable<ResultOf<typeof PostJournalEntryDocument>["postJournalEntry"]>["entry"]["currency"], string>(true);
same<NonNullable<ResultOf<typeof PostInvoiceDocument>["postInvoice"]>["replayed"], boolean>(true);

// Marketing: closed sets string unions, instants strings, counters numbers.
type Funnel = NonNullable<NonNullable<ResultOf<typeof CampaignFunnelDocument>["campaign"]>>;
same<Funnel["status"], CampaignStatus>(true);
same<Funnel["startedAt"], string | null>(true);
same<Funnel["funnel"]["sent"], number>(true);
type NewContact = NonNullable<ResultOf<typeof CreateMarketingContactDocument>["createMarketingContact"]>;
same<NewContact["status"], MarketingContactStatus>(true);
same<NewContact["email"], string | null>(true);
same<NewContact["consents"][number]["recordedAt"], string>(true);

export { page, punch };
