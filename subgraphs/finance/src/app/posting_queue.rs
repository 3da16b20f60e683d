//! Group commit of invoice postings (issue 17's posting throughput). Every invoice of a tenant
//! is numbered in one gapless series per fiscal year and posts into one (hash-chained) sales
//! journal, so a posting holds the series' row, the journal's chain head and the month's
//! balance rows until it commits: postings of one tenant run one at a time, however many
//! connections there are. Posting them one transaction each, the series drained at the speed
//! of ~17 statements and a commit per invoice.
//!
//! So concurrent `postInvoice` requests of one tenant wait in a short queue that ONE writer per
//! tenant drains, up to [`MAX_BATCH`] at a time, in a single transaction whose statements do
//! not grow with the batch but for one update per invoice: one read each of the stored keys,
//! the settings and fiscal years, the drafts, their lines, the taxes, the accounts, the
//! customers and the journal; one claim of the drafts; one upsert per series taking the
//! batch's numbers (in queue order, contiguous); one advance of the chain; one multi-row
//! insert each of entry lines, entries, balance snapshots, instalments, outbox events and
//! idempotency keys; one update per invoice (its number, entry and totals); one commit.
//!
//! Each posting is still checked alone and gets its own answer once the commit made it
//! durable: a refused posting (no such draft, not a draft any more, a locked period, a line
//! that does not price) is answered with its error and takes no number, so the others' stay
//! contiguous. When the shared write itself fails (another writer claimed one of the drafts
//! or recorded one of the keys meanwhile, the database refused a row), every posting of the
//! batch runs again alone, in its own transaction as before, so only the one at fault fails.
//! Postings the batch does not handle (credit notes, bills, a foreign currency, a second
//! posting of the same draft or key in the batch) also run alone, after the batch. Nothing
//! waits for a batch to fill: a posting arriving while the writer is idle runs at once (alone:
//! the one-transaction path), and while the writer writes, the next batch gathers.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use erp_kit::db::begin_write;
use erp_kit::events::EventEnvelope;
use erp_kit::{ApiError, ApiResult, TenantId};
use tokio::sync::{mpsc, oneshot};

use super::documents::{
    document_entry, price_lines, stored_kind, stored_term, template_line, InvoicePosted,
    PostDocumentRequest, POST_DOCUMENT,
};
use super::ledger::{chain_hash, entry_rows, journal_posted, Posting};
use super::{Actor, Finance, Outcome};
use crate::domain::idempotency::{fingerprint, replay, IdempotencyKey};
use crate::domain::invoice::{check_draft, instalments, DocumentKind};
use crate::domain::ledger::{balance_deltas, balance_entry, check_accounts, entry_reference};
use crate::domain::money::Currency;
use crate::domain::period::{open_year_for, FiscalYear};
use crate::domain::FinanceViolation;
use crate::events;
use crate::store::documents as store;
use crate::store::entities::{document, document_line, idempotency, instalment, settings};
use crate::store::idempotency as keys_store;
use crate::store::ledger as ledger_store;

/// Postings written in one transaction at most.
pub const MAX_BATCH: usize = 64;

/// One `postInvoice` request: who posts which draft under which idempotency key.
#[derive(Debug, Clone)]
pub struct PostingRequest {
    pub actor: Actor,
    pub idempotency_key: String,
    pub document_id: String,
}

struct Queued {
    request: PostingRequest,
    reply: oneshot::Sender<ApiResult<Outcome>>,
}

/// The writers of the process, one per tenant (started with the tenant's first queued
/// posting; they stop when the process's runtime does).
#[derive(Clone, Default)]
pub struct PostingQueue {
    writers: Arc<Mutex<HashMap<TenantId, mpsc::Sender<Queued>>>>,
}

/// A posting of the batch that passed every check, before it is numbered.
struct Ready {
    /// Its place in the batch.
    index: usize,
    key: String,
    fingerprint: String,
    draft: document::Model,
    year: FiscalYear,
    lines: Vec<document_line::Model>,
    computed: Vec<document_line::Model>,
    totals: crate::domain::tax::Totals,
    term: Vec<crate::domain::invoice::TermLine>,
    client_id: Option<String>,
}

impl Finance {
    /// Posts a draft through the tenant's posting writer (the `postInvoice` mutation): the same
    /// answer as [`Finance::post_document`], written together with the postings waiting beside
    /// it (see the module's text).
    pub async fn post_document_queued(
        &self,
        actor: &Actor,
        idempotency_key: &str,
        document_id: &str,
    ) -> ApiResult<Outcome> {
        let stopped = || ApiError::internal("the posting writer stopped");
        let sender = self.tenant_writer(&actor.tenant).ok_or_else(stopped)?;
        let (reply, answer) = oneshot::channel();
        let request = PostingRequest {
            actor: actor.clone(),
            idempotency_key: idempotency_key.to_owned(),
            document_id: document_id.to_owned(),
        };
        sender
            .send(Queued { request, reply })
            .await
            .map_err(|_| stopped())?;
        // A writer that ended with this posting in hand (a bug, a panic) answers nothing: the
        // posting may or may not have committed, and a retry with the same key says which.
        answer.await.map_err(|_| stopped())?
    }

    /// The tenant's posting writer, started with the tenant's first posting, and started
    /// again when the one before has ended (its task panicked): a dead writer must not
    /// refuse the tenant's postings until the process restarts.
    fn tenant_writer(&self, tenant: &TenantId) -> Option<mpsc::Sender<Queued>> {
        let mut writers = self.postings.writers.lock().ok()?;
        if let Some(sender) = writers.get(tenant).filter(|sender| !sender.is_closed()) {
            return Some(sender.clone());
        }
        let (sender, receiver) = mpsc::channel(MAX_BATCH * 16);
        tokio::spawn(self.clone().write_queued_postings(receiver));
        writers.insert(tenant.clone(), sender.clone());
        Some(sender)
    }

    /// Posts `requests` together as the writer posts a batch it drained (the same checks, each
    /// its own answer, in order), without queueing them: for a caller holding a batch already,
    /// and for tests of a batch's rules. A single request posts alone.
    pub async fn post_documents_together(
        &self,
        requests: &[PostingRequest],
    ) -> Vec<ApiResult<Outcome>> {
        if requests.len() == 1 {
            let request = &requests[0];
            return vec![
                self.post_document(
                    &request.actor,
                    &request.idempotency_key,
                    &request.document_id,
                )
                .await,
            ];
        }
        let mut outcomes = match self.post_batch(requests).await {
            Ok(outcomes) => outcomes,
            Err(err) => {
                tracing::debug!(error = ?err, size = requests.len(), "invoice postings posted one by one");
                requests.iter().map(|_| None).collect()
            }
        };
        // What the batch left (or all of it, when its write failed): each alone, in order.
        for (request, outcome) in requests.iter().zip(outcomes.iter_mut()) {
            if outcome.is_none() {
                *outcome = Some(
                    self.post_document(
                        &request.actor,
                        &request.idempotency_key,
                        &request.document_id,
                    )
                    .await,
                );
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Err(ApiError::internal("a posting had no outcome"))))
            .collect()
    }

    /// The writer of one tenant: drains its queue, every posting waiting (up to [`MAX_BATCH`])
    /// at a time.
    async fn write_queued_postings(self, mut queue: mpsc::Receiver<Queued>) {
        // `recv_many` waits for the first and takes what else is waiting, up to MAX_BATCH.
        let mut batch = Vec::with_capacity(MAX_BATCH);
        while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
            let (requests, replies): (Vec<PostingRequest>, Vec<_>) =
                batch.drain(..).map(|q| (q.request, q.reply)).unzip();
            let outcomes = self.post_documents_together(&requests).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // A caller that went away leaves its posting done (a retry with its key
                // replays it).
                let _ = reply.send(outcome);
            }
        }
    }

    /// Posts the customer invoices of `requests` in the base currency in one transaction: an
    /// answer for each posting it handled or refused, `None` for one it leaves to post alone.
    /// An error of the whole (the shared write failed) leaves nothing written.
    async fn post_batch(
        &self,
        requests: &[PostingRequest],
    ) -> ApiResult<Vec<Option<ApiResult<Outcome>>>> {
        let mut outcomes: Vec<Option<ApiResult<Outcome>>> = requests.iter().map(|_| None).collect();
        let tenant = &requests[0].actor.tenant;
        // The batch's postings: one tenant's, each key and each draft once (a second posting
        // of either runs alone after the batch, and replays or is refused then).
        let mut candidates: Vec<(usize, String, String)> = Vec::new();
        let (mut seen_keys, mut seen_documents) = (HashSet::new(), HashSet::new());
        for (index, request) in requests.iter().enumerate() {
            if &request.actor.tenant != tenant {
                continue;
            }
            let key = match IdempotencyKey::parse(&request.idempotency_key) {
                Ok(key) => key.as_str().to_owned(),
                Err(err) => {
                    outcomes[index] = Some(Err(err.into()));
                    continue;
                }
            };
            if !seen_keys.insert(key.clone()) || !seen_documents.insert(request.document_id.clone())
            {
                continue;
            }
            let request_json = serde_json::to_value(PostDocumentRequest {
                document_id: &request.document_id,
            })
            .map_err(ApiError::internal)?;
            candidates.push((index, key, fingerprint(POST_DOCUMENT, &request_json)));
        }
        if candidates.is_empty() {
            return Ok(outcomes);
        }

        let txn = begin_write(&self.db).await?;
        // Keys recorded before: their postings replay (or are refused: another request).
        let stored: HashMap<String, idempotency::Model> = keys_store::find_many(
            &*txn,
            tenant,
            candidates.iter().map(|(_, key, _)| key.clone()).collect(),
        )
        .await?
        .into_iter()
        .map(|row| (row.key.clone(), row))
        .collect();
        candidates.retain(|(index, key, fingerprint)| match stored.get(key) {
            None => true,
            Some(row) => {
                outcomes[*index] = Some(
                    replay(
                        &row.operation,
                        &row.fingerprint,
                        &row.result,
                        POST_DOCUMENT,
                        fingerprint,
                    )
                    .map(|id| Outcome { id, replayed: true })
                    .map_err(ApiError::from),
                );
                false
            }
        });
        if candidates.is_empty() {
            txn.rollback().await?;
            return Ok(outcomes);
        }

        let settings = self.require_set_up(&*txn, tenant).await?;
        let base = Currency::parse(&settings.base_currency)?;
        let years = self.fiscal_years_in(&*txn, tenant).await?;
        // Which requests name a draft the batch posts: a customer invoice in the base currency
        // (credit notes, bills and foreign invoices post alone, after the batch).
        let found: HashMap<String, document::Model> = store::documents_by_ids(
            &*txn,
            tenant,
            candidates
                .iter()
                .map(|(index, ..)| requests[*index].document_id.clone())
                .collect(),
        )
        .await?
        .into_iter()
        .map(|row| (row.id.clone(), row))
        .collect();
        let mut claimable = Vec::with_capacity(candidates.len());
        for (index, key, fingerprint) in candidates {
            let Some(draft) = found.get(&requests[index].document_id) else {
                outcomes[index] = Some(Err(ApiError::NotFound("invoice".into())));
                continue;
            };
            if let Err(refused) = check_draft(draft.posted, "document") {
                outcomes[index] = Some(Err(refused.into()));
                continue;
            }
            if stored_kind(draft)? == DocumentKind::Invoice && draft.currency == base.code() {
                claimable.push((index, key, fingerprint));
            }
        }
        if claimable.is_empty() {
            txn.rollback().await?;
            return Ok(outcomes);
        }
        // The drafts claimed first (a posting's lock order: documents, sequences, journal,
        // balances); one posted by another writer since the read fails the batch.
        let ids: Vec<String> = claimable
            .iter()
            .map(|(index, ..)| requests[*index].document_id.clone())
            .collect();
        let claimed = store::claim_drafts(&*txn, tenant, ids.clone()).await?;
        if claimed != ids.len() as u64 {
            return Err(FinanceViolation::NotDraft("document").into());
        }

        // The facts, one read each for the whole batch, after the claim (which waited for an
        // edit of a draft in flight): the drafts and their lines as they are now.
        let drafts: HashMap<String, document::Model> =
            store::documents_by_ids(&*txn, tenant, ids.clone())
                .await?
                .into_iter()
                .map(|row| (row.id.clone(), row))
                .collect();
        let mut lines_of: HashMap<String, Vec<document_line::Model>> = HashMap::new();
        for line in store::lines_of(&*txn, tenant, ids).await? {
            lines_of
                .entry(line.document_id.clone())
                .or_default()
                .push(line);
        }
        let taxes: HashMap<String, crate::store::entities::tax::Model> =
            ledger_store::taxes(&*txn, tenant)
                .await?
                .into_iter()
                .map(|tax| (tax.id.clone(), tax))
                .collect();
        let tax_accounts: HashMap<String, String> = taxes
            .values()
            .map(|tax| (tax.id.clone(), tax.account_id.clone()))
            .collect();
        let mut account_ids: Vec<String> = lines_of
            .values()
            .flatten()
            .map(|line| line.account_id.clone())
            .chain(tax_accounts.values().cloned())
            .collect();
        account_ids.extend([
            settings.default_income_account_id.clone(),
            settings.receivable_account_id.clone(),
            settings.rounding_account_id.clone(),
        ]);
        let accounts = self.account_facts(&*txn, tenant, account_ids).await?;
        let partner_ids: Vec<String> = drafts.values().map(|d| d.partner_id.clone()).collect();
        // Analytics reads profitability per CRM client: an invoice's customer's client.
        let clients: HashMap<String, Option<String>> =
            store::partners_by_ids(&*txn, tenant, partner_ids)
                .await?
                .into_iter()
                .map(|partner| (partner.id, partner.client_id))
                .collect();
        let mut terms: HashMap<String, Vec<crate::domain::invoice::TermLine>> = HashMap::new();
        for term_id in drafts.values().filter_map(|d| d.payment_term_id.clone()) {
            if let std::collections::hash_map::Entry::Vacant(vacant) = terms.entry(term_id) {
                let term = match store::payment_term(&*txn, tenant, vacant.key()).await? {
                    Some(term) => stored_term(&term.lines)?,
                    None => Vec::new(),
                };
                vacant.insert(term);
            }
        }
        let journal = ledger_store::journal(&*txn, tenant, &settings.sales_journal_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("journal".into()))?;

        // Each posting checked alone, in order; a refused one is given back its draft and
        // takes no number.
        let mut ready: Vec<Ready> = Vec::new();
        let mut refused_drafts = Vec::new();
        for (index, key, fingerprint) in claimable {
            let document_id = &requests[index].document_id;
            let draft = drafts
                .get(document_id)
                .ok_or_else(|| ApiError::internal("a claimed draft vanished"))?;
            let lines = lines_of.remove(document_id).unwrap_or_default();
            let checked = check_invoice(
                (tenant, &settings, base),
                (&taxes, &accounts, &tax_accounts),
                &years,
                draft,
                &lines,
            );
            match checked {
                Err(refused) => {
                    outcomes[index] = Some(Err(refused));
                    refused_drafts.push(draft.id.clone());
                }
                Ok((year, computed, totals)) => ready.push(Ready {
                    index,
                    key,
                    fingerprint,
                    term: draft
                        .payment_term_id
                        .as_ref()
                        .and_then(|id| terms.get(id).cloned())
                        .unwrap_or_default(),
                    client_id: clients.get(&draft.partner_id).cloned().flatten(),
                    draft: draft.clone(),
                    year,
                    lines,
                    computed,
                    totals,
                }),
            }
        }
        if ready.is_empty() {
            txn.rollback().await?;
            return Ok(outcomes);
        }
        if !refused_drafts.is_empty() {
            store::unclaim_drafts(&*txn, tenant, refused_drafts).await?;
        }
        // The batch's numbers, contiguous, in queue order, per fiscal year: the invoices' in
        // their series, the entries' in the journal's.
        let mut numbers: HashMap<usize, (i64, i64)> = HashMap::new();
        let mut year_ids: Vec<&str> = ready.iter().map(|r| r.year.id.as_str()).collect();
        year_ids.dedup();
        year_ids.sort();
        year_ids.dedup();
        for year_id in year_ids {
            let members: Vec<usize> = (0..ready.len())
                .filter(|&i| ready[i].year.id == year_id)
                .collect();
            let count = members.len() as i64;
            let series = DocumentKind::Invoice.series();
            let last = ledger_store::next_numbers(&*txn, tenant, series, year_id, count).await?;
            let last_entry =
                ledger_store::next_numbers(&*txn, tenant, &journal.id, year_id, count).await?;
            for (offset, member) in members.into_iter().enumerate() {
                let offset = offset as i64;
                numbers.insert(
                    member,
                    (last - count + 1 + offset, last_entry - count + 1 + offset),
                );
            }
        }
        let mut chain = if journal.hash_chain {
            let count = ready.len() as i64;
            let (last, previous) =
                ledger_store::advance_chain_by(&*txn, tenant, &journal.id, count).await?;
            Some((last - count + 1, previous))
        } else {
            None
        };

        let mut headers = Vec::with_capacity(ready.len());
        let mut entry_lines = Vec::new();
        let mut deltas: BTreeMap<(String, chrono::NaiveDate), (i64, i64)> = BTreeMap::new();
        let mut instalment_rows = Vec::new();
        let mut events = Vec::with_capacity(ready.len() * 2);
        let mut key_rows = Vec::with_capacity(ready.len());
        let mut days: BTreeMap<chrono::NaiveDate, (i64, i64)> = BTreeMap::new();
        for (position, posting) in ready.iter().enumerate() {
            let actor = &requests[posting.index].actor;
            let draft = &posting.draft;
            let (number, entry_number) = numbers
                .get(&position)
                .copied()
                .ok_or_else(|| ApiError::internal("a posting without its number"))?;
            let series = DocumentKind::Invoice.series();
            let reference = format!("{series}/{}/{number:05}", posting.year.name);
            let numbered = document::Model {
                reference: Some(reference.clone()),
                ..draft.clone()
            };
            let balanced = balance_entry(
                document_entry(
                    &settings,
                    &numbered,
                    DocumentKind::Invoice,
                    base,
                    &posting.computed,
                    &posting.totals,
                    &tax_accounts,
                )?,
                base,
                None,
            )?;
            let entry_reference = entry_reference(&journal.code, &posting.year.name, entry_number);
            let link = match chain.as_mut() {
                None => None,
                Some((index, previous)) => {
                    let hash = chain_hash(
                        previous,
                        &entry_reference,
                        &journal,
                        draft.document_date,
                        &balanced,
                    );
                    let link = (*index, previous.clone(), hash.clone());
                    *index += 1;
                    *previous = hash;
                    Some(link)
                }
            };
            let (header, rows) = entry_rows(
                actor,
                &journal,
                &posting.year,
                (entry_number, entry_reference),
                link,
                Posting {
                    journal_id: journal.id.clone(),
                    date: draft.document_date,
                    memo: Some(reference.clone()),
                    source_kind: DocumentKind::Invoice.as_str(),
                    source_id: Some(draft.id.clone()),
                    reverses_id: None,
                    allow_control: true,
                },
                &balanced,
            );
            for (key, (debit, credit)) in balance_deltas(draft.document_date, &balanced.lines) {
                let total = deltas.entry(key).or_insert((0, 0));
                total.0 += debit;
                total.1 += credit;
            }
            entry_lines.extend(rows);
            // The draft's lines as posting prices them (rewritten only where they changed:
            // a tax's rate edited since the draft was saved).
            for (stored, computed) in posting.lines.iter().zip(&posting.computed) {
                if (stored.subtotal, stored.tax_amount) != (computed.subtotal, computed.tax_amount)
                {
                    store::set_line_amounts(
                        &*txn,
                        tenant,
                        &stored.id,
                        computed.subtotal,
                        computed.tax_amount,
                    )
                    .await?;
                }
            }
            let total = posting.totals.total;
            instalment_rows.extend(
                instalments(total, draft.document_date, &posting.term, draft.due_date)
                    .into_iter()
                    .enumerate()
                    .map(|(seq, (due_date, amount))| instalment::Model {
                        document_id: draft.id.clone(),
                        seq: seq as i32 + 1,
                        tenant_id: tenant.as_str().to_owned(),
                        due_date,
                        amount,
                    }),
            );
            events.push(event(
                actor,
                events::JOURNAL_POSTED,
                &header.id,
                journal_posted(&header, &settings.base_currency),
            )?);
            events.push(event(
                actor,
                events::INVOICE_POSTED,
                &draft.id,
                InvoicePosted {
                    invoice_id: &draft.id,
                    reference: &reference,
                    customer_id: &draft.partner_id,
                    date: draft.document_date,
                    due_date: draft.due_date,
                    currency: &draft.currency,
                    total,
                    project_id: draft.project_id.as_deref(),
                    entry_id: &header.id,
                    client_id: posting.client_id.as_deref(),
                    base_currency: &settings.base_currency,
                    base_total: total,
                },
            )?);
            let day = days.entry(draft.document_date).or_insert((0, 0));
            day.0 += 1;
            day.1 += total;
            key_rows.push(idempotency::Model {
                tenant_id: tenant.as_str().to_owned(),
                key: posting.key.clone(),
                operation: POST_DOCUMENT.to_owned(),
                fingerprint: posting.fingerprint.clone(),
                result: draft.id.clone(),
                created_at: chrono::Utc::now(),
            });
            headers.push((header, number, reference));
        }
        let entries: Vec<_> = headers.iter().map(|(header, ..)| header.clone()).collect();
        ledger_store::insert_entries(&*txn, entries, entry_lines, &deltas, tenant).await?;
        if let Some((_, head)) = &chain {
            ledger_store::set_chain_head(&*txn, tenant, &journal.id, head).await?;
        }
        for (posting, (header, number, reference)) in ready.iter().zip(&headers) {
            let totals = &posting.totals;
            store::set_posted(
                &*txn,
                tenant,
                &posting.draft.id,
                store::Posted {
                    number: *number,
                    reference,
                    entry_id: &header.id,
                    untaxed: totals.untaxed,
                    tax: totals.tax,
                    total: totals.total,
                    settled: 0,
                    rate_nano: None,
                    base_total: totals.total,
                    base_settled: 0,
                },
            )
            .await?;
        }
        store::insert_instalments(&*txn, instalment_rows).await?;
        self.outbox.enqueue_many(&*txn, &events).await?;
        // Each day's control total once, counting the batch's invoices of that day.
        let first_actor = &requests[ready[0].index].actor;
        for (day, (records, amount)) in days {
            self.enqueue_invoices_control_total(
                &*txn,
                first_actor,
                day,
                &settings.base_currency,
                records,
                amount,
            )
            .await?;
        }
        let recorded = keys_store::record_many(&*txn, key_rows).await?;
        if recorded != ready.len() as u64 {
            // A request with one of the keys committed since the read: each alone answers.
            return Err(ApiError::internal(
                "an idempotency key was recorded meanwhile",
            ));
        }
        self.outbox.commit(txn).await?;
        for posting in &ready {
            outcomes[posting.index] = Some(Ok(Outcome {
                id: posting.draft.id.clone(),
                replayed: false,
            }));
        }
        Ok(outcomes)
    }
}

/// Checks one invoice of a batch as its posting alone would: its fiscal year open on its
/// date, its lines priced, its entry balanced on allowed accounts. The year, the priced lines
/// and the totals, or the rule it breaks.
#[allow(clippy::type_complexity)]
fn check_invoice(
    (tenant, settings, base): (&TenantId, &settings::Model, Currency),
    (taxes, accounts, tax_accounts): (
        &HashMap<String, crate::store::entities::tax::Model>,
        &BTreeMap<String, crate::domain::ledger::AccountFacts>,
        &HashMap<String, String>,
    ),
    years: &[FiscalYear],
    draft: &document::Model,
    lines: &[document_line::Model],
) -> ApiResult<(
    FiscalYear,
    Vec<document_line::Model>,
    crate::domain::tax::Totals,
)> {
    let requests: Vec<_> = lines.iter().map(|l| template_line(l, base)).collect();
    let (computed, totals) = price_lines(
        tenant,
        settings,
        (taxes, accounts),
        &draft.id,
        DocumentKind::Invoice,
        base,
        &requests,
    )?;
    let year = open_year_for(years, settings.lock_date, draft.document_date)?.clone();
    // The entry as it will post (its number is not known yet: the control line's label is
    // the only difference, and no rule reads it).
    let entry = document_entry(
        settings,
        draft,
        DocumentKind::Invoice,
        base,
        &computed,
        &totals,
        tax_accounts,
    )?;
    let balanced = balance_entry(entry, base, None)?;
    check_accounts(&balanced.lines, accounts, true)?;
    Ok((year, computed, totals))
}

/// An event of `actor`'s posting, for the outbox.
fn event(
    actor: &Actor,
    event_type: &str,
    aggregate_id: &str,
    payload: impl serde::Serialize,
) -> ApiResult<EventEnvelope> {
    Ok(
        EventEnvelope::new(&actor.tenant, event_type, aggregate_id, payload)
            .map_err(ApiError::internal)?
            .with_actor(actor.user_id.clone()),
    )
}
