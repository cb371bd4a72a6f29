//! What every request needs, kept in memory: API keys, budgets with their
//! enabled products, and connection instances.
//!
//! A change that must end cached access (a revoked key, a paused or changed
//! budget, a product enabled or disabled, a role change) writes a row to
//! `cache_invalidations` in the same transaction. The node that made it drops
//! its entry at once; every node polls the log every [`POLL`] and drops what
//! it names, so the change takes effect everywhere within [`BOUND`].
//!
//! A read that raced with an invalidation must not put the old row back: each
//! fill notes the generation before it reads, and is kept only if no
//! invalidation happened meanwhile.

use crate::clock::Timestamp;
use crate::id::ProductId;
use crate::id::{ApiKeyId, BudgetId, InstanceId, UserId};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::money::Credits;
use crate::store::{BudgetRow, InstanceRow, KeyPrincipal, Store, StoreResult};

/// How often each node reads the invalidation log.
pub const POLL: Duration = Duration::from_millis(200);
/// How stale a cached key, budget or product may be on any node.
pub const BOUND: Duration = Duration::from_secs(1);
/// How far back each poll reads, so that a change whose transaction
/// committed late (after later ones) is still seen.
const LOOKBACK_MS: i64 = 30_000;
/// Entries one cache keeps before it starts again empty.
const MAX_ENTRIES: usize = 200_000;

pub use crate::store::invalidation as kind;

/// A budget with the products enabled on it and the prices agreed to.
#[derive(Debug, Clone)]
pub struct BudgetPolicy {
    pub budget: BudgetRow,
    /// Product id → the price of each action when the owner enabled it
    /// (`None` on rows from before prices were recorded).
    pub products: HashMap<ProductId, Option<HashMap<String, Credits>>>,
}

impl BudgetPolicy {
    pub fn enables(&self, product_id: ProductId) -> bool {
        self.products.contains_key(&product_id)
    }

    /// The prices the owner agreed to for a product, if recorded.
    pub fn agreed_prices(&self, product_id: ProductId) -> Option<&HashMap<String, Credits>> {
        self.products.get(&product_id).and_then(Option::as_ref)
    }
}

/// A map that forgets everything when it grows past [`MAX_ENTRIES`].
struct Map<V, K = String>(RwLock<HashMap<K, V>>);

impl<V: Clone, K: Eq + std::hash::Hash> Map<V, K> {
    fn new() -> Self {
        Map(RwLock::new(HashMap::new()))
    }

    fn get<Q>(&self, k: &Q) -> Option<V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        self.0.read().expect("cache lock").get(k).cloned()
    }

    fn put(&self, k: K, v: V) {
        let mut m = self.0.write().expect("cache lock");
        if m.len() >= MAX_ENTRIES {
            m.clear();
        }
        m.insert(k, v);
    }

    fn remove<Q>(&self, k: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Eq + std::hash::Hash + ?Sized,
    {
        self.0.write().expect("cache lock").remove(k);
    }

    fn retain(&self, keep: impl Fn(&V) -> bool) {
        self.0.write().expect("cache lock").retain(|_, v| keep(v));
    }
}

/// Log rows applied: their sequence numbers, and (seq, created_at) oldest first.
type Seen = (HashSet<i64>, VecDeque<(i64, i64)>);

/// Who a default connection instance belongs to: an API key, or a
/// signed-in user acting in one of their budgets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InstanceOwner {
    Key(ApiKeyId),
    User(UserId, BudgetId),
}

impl std::fmt::Display for InstanceOwner {
    /// As the store keeps it in `instances.default_for`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InstanceOwner::Key(key) => write!(f, "key:{key}"),
            InstanceOwner::User(user, budget) => write!(f, "user:{user}:{budget}"),
        }
    }
}

/// The caches of one node.
pub struct Caches {
    store: Arc<dyn Store>,
    /// By key hash.
    keys: Map<KeyPrincipal>,
    budgets: Map<Arc<BudgetPolicy>, BudgetId>,
    /// Instances never change owner, so these never go stale.
    instances: Map<Arc<InstanceRow>, InstanceId>,
    /// Default instance ids by owner.
    defaults: Map<InstanceId, InstanceOwner>,
    generation: AtomicU64,
    /// Log rows already applied, newest last, with their times.
    seen: RwLock<Seen>,
}

impl Caches {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Caches {
            store,
            keys: Map::new(),
            budgets: Map::new(),
            instances: Map::new(),
            defaults: Map::new(),
            generation: AtomicU64::new(0),
            seen: RwLock::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// The live key with this hash.
    pub async fn principal(&self, key_hash: &str) -> StoreResult<Option<KeyPrincipal>> {
        if let Some(p) = self.keys.get(key_hash) {
            return Ok(Some(p));
        }
        let generation = self.generation();
        let found = self.store.principal_for_key_hash(key_hash).await?;
        if let Some(p) = &found {
            if self.generation() == generation {
                self.keys.put(key_hash.to_string(), p.clone());
            }
        }
        Ok(found)
    }

    /// A budget and its enabled products.
    pub async fn budget(&self, budget_id: BudgetId) -> StoreResult<Option<Arc<BudgetPolicy>>> {
        if let Some(b) = self.budgets.get(&budget_id) {
            return Ok(Some(b));
        }
        let generation = self.generation();
        let Some(budget) = self.store.budget_by_id(budget_id).await? else {
            return Ok(None);
        };
        let products = self.store.budget_products_with_prices(budget_id).await?;
        let policy = Arc::new(BudgetPolicy {
            budget,
            products: products
                .into_iter()
                .map(|(id, prices)| (id, prices.and_then(|p| serde_json::from_str(&p).ok())))
                .collect(),
        });
        if self.generation() == generation {
            self.budgets.put(budget_id, policy.clone());
        }
        Ok(Some(policy))
    }

    pub async fn instance(&self, id: InstanceId) -> StoreResult<Option<Arc<InstanceRow>>> {
        if let Some(i) = self.instances.get(&id) {
            return Ok(Some(i));
        }
        let found = self.store.instance_by_id(id).await?.map(Arc::new);
        if let Some(i) = &found {
            self.instances.put(id, i.clone());
        }
        Ok(found)
    }

    pub fn default_instance(&self, owner: InstanceOwner) -> Option<InstanceId> {
        self.defaults.get(&owner)
    }

    pub fn remember_default_instance(&self, owner: InstanceOwner, id: InstanceId) {
        self.defaults.put(owner, id);
    }

    /// Drops what one log row names.
    pub fn invalidate(&self, kind: &str, key: &str) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        match kind {
            kind::API_KEY => self.keys.retain(|p| p.key_id != *key),
            kind::BUDGET => {
                if let Some(id) = BudgetId::parse(key) {
                    self.budgets.remove(&id);
                }
            }
            kind::USER => {
                self.keys.retain(|p| p.user_id != *key);
                self.budgets.retain(|b| b.budget.user_id != *key);
            }
            _ => {
                self.keys.retain(|_| false);
                self.budgets.retain(|_| false);
            }
        }
    }

    /// Applies the log rows written since the last poll, by any node.
    pub async fn poll(&self, now_ms: i64) -> StoreResult<usize> {
        let rows = self
            .store
            .invalidations_since(Timestamp::from_millis(now_ms - LOOKBACK_MS))
            .await?;
        let mut applied = 0;
        for (seq, kind, key, created_at) in rows {
            {
                let mut seen = self.seen.write().expect("cache lock");
                if !seen.0.insert(seq) {
                    continue;
                }
                seen.1.push_back((seq, created_at));
            }
            self.invalidate(&kind, &key);
            applied += 1;
        }
        let mut seen = self.seen.write().expect("cache lock");
        while let Some(&(seq, at)) = seen.1.front() {
            if at >= now_ms - 2 * LOOKBACK_MS {
                break;
            }
            seen.1.pop_front();
            seen.0.remove(&seq);
        }
        Ok(applied)
    }
}
