//! What a purchase asks the budget's owner for: a product not on the
//! budget, and a price above the one the owner agreed to.

use super::keyed::{left_to_a_claimed_run, Keyed};
use super::PurchaseError;
use crate::app::approvals::{self, NewApproval};
use crate::app::AppInner;
use crate::auth::Caller;
use crate::catalog::Product;
use crate::clock::Timestamp;
use crate::id::ApprovalId;
use crate::money::Credits;
use crate::store::ApprovalKind;

/// Opens (or finds) the approval request asking the owner to enable a product.
pub(super) async fn request_product(
    app: &AppInner,
    caller: &Caller,
    product: &Product,
) -> Result<ApprovalId, PurchaseError> {
    let detail = serde_json::json!({
        "product_id": product.row.id, "product_name": product.row.name, "display_name": product.row.display_name,
        "requested_with_api_key": caller.api_key_id,
    });
    let request = NewApproval::by(
        caller,
        ApprovalKind::EnableProduct,
        product.row.id.to_string(),
        detail,
    );
    Ok(approvals::open(app, request).await?)
}

/// A vendor may change a price, but a dearer one does not take effect on a
/// budget until its owner agrees: the call is refused and the owner asked.
pub(super) async fn check_agreed_price(
    app: &AppInner,
    caller: &Caller,
    policy: &crate::cache::BudgetPolicy,
    product: &Product,
    action: &str,
    price: Credits,
    keyed: Keyed<'_>,
) -> Result<(), PurchaseError> {
    let Some(agreed) = policy.agreed_prices(product.id()) else {
        if keyed.claiming() {
            // Recording them is a write: left to the run under a claim.
            return Err(left_to_a_claimed_run());
        }
        // Enabled before prices were recorded: the prices of now are agreed.
        app.store
            .record_agreed_prices(
                caller.budget_id,
                product.id(),
                &product.prices_json(),
                Timestamp::from(app.clock.now()),
            )
            .await?;
        app.caches
            .invalidate(crate::cache::kind::BUDGET, &caller.budget_id.to_string());
        return Ok(());
    };
    let agreed_price = agreed.get(action).copied();
    if price == Credits::ZERO || agreed_price.is_some_and(|a| price <= a) {
        return Ok(());
    }
    if keyed.claiming() {
        return Err(left_to_a_claimed_run());
    }
    let detail = serde_json::json!({
        "product_id": product.row.id, "product_name": product.row.name, "action": action,
        "agreed_price_credits": agreed_price, "price_credits": price,
        "requested_with_api_key": caller.api_key_id,
    });
    let request = NewApproval::by(
        caller,
        ApprovalKind::PriceIncrease,
        product.row.id.to_string(),
        detail,
    );
    let approval_request_id = approvals::open(app, request).await?;
    Err(PurchaseError::PriceNotApproved {
        product_id: product.row.id,
        action: action.to_string(),
        agreed: agreed_price,
        price,
        approval_request_id,
    })
}
