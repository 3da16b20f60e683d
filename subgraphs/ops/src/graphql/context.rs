//! What every resolver file shares: the use cases from the schema's data, amounts as the kit's
//! `Money`, and the conversions of the kit's inputs.

use async_graphql::{Context, Result};

use erp_kit::money::{Currency, Money, MoneyInput};
use erp_kit::ApiError;

use crate::app::Ops;

/// The operations use cases the schema was built with.
pub fn ops<'a>(ctx: &Context<'a>) -> Result<&'a Ops> {
    ctx.data::<Ops>()
        .map_err(|_| ApiError::internal("ops service missing from schema data").into())
}

/// A stored amount of a stored currency as the kit's `Money`.
pub fn money(minor: i64, currency: &str) -> Result<Money> {
    let currency =
        Currency::parse(currency).map_err(|_| ApiError::internal("a stored unknown currency"))?;
    Ok(Money::from_minor(minor, currency)
        .map_err(|_| ApiError::internal("a stored amount out of range"))?)
}

/// A `MoneyInput` in minor units, naming `field` when it does not parse.
pub fn money_input(field: &str, input: &MoneyInput) -> Result<Money, ApiError> {
    input
        .to_money()
        .map_err(|err| ApiError::bad_input(field, err.message(input.currency)))
}

/// A decimal amount of `currency` in its minor units (a unit price of a document).
pub fn minor_of(
    field: &str,
    amount: &erp_kit::money::Decimal,
    currency: Currency,
) -> Result<i64, ApiError> {
    Money::parse(amount.as_str(), currency)
        .map(|money| money.minor())
        .map_err(|err| ApiError::bad_input(field, err.message(currency)))
}
