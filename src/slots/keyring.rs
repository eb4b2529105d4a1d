//! Secret Service key slots: a random 32-byte KEK kept as an item of the desktop keyring
//! (GNOME Keyring, KeePassXC, KWallet: the freedesktop.org Secret Service API), found again by
//! a random id that the vault slot holds (vault/FORMAT.md "Key slots", SECURITY.md "Key slots").
//!
//! The keyring is unlocked by the desktop login, so `serve` in that session starts without a
//! prompt; the vault file alone, copied elsewhere, holds no part of the KEK. The secret crosses
//! the session bus in the "plain" transfer algorithm: the bus is this user's own socket, and
//! anyone who can read it can ask the keyring for the item anyway.

use std::collections::HashMap;

use anyhow::{Context as _, Result, bail};
use zbus::blocking::{Connection, Proxy};
use zbus::zvariant::{ObjectPath, OwnedObjectPath, Value};
use zeroize::Zeroizing;

const DESTINATION: &str = "org.freedesktop.secrets";
const SERVICE_PATH: &str = "/org/freedesktop/secrets";
const SERVICE: &str = "org.freedesktop.Secret.Service";
const COLLECTION: &str = "org.freedesktop.Secret.Collection";
const ITEM: &str = "org.freedesktop.Secret.Item";
/// The item attribute that holds the slot's random id.
const SLOT_ATTRIBUTE: &str = "softkey-slot";
/// Length of the random id in the vault slot.
const ID_LEN: usize = 16;

/// The Secret Service's `Secret` struct: session, parameters, value, content type.
type Secret = (OwnedObjectPath, Vec<u8>, Vec<u8>, String);

/// Stores a fresh random KEK in the default collection. Returns the blob for the vault slot
/// (the item's random id) and the KEK.
pub fn store(vault_label: &str) -> Result<(Vec<u8>, Zeroizing<[u8; 32]>)> {
    let mut kek = Zeroizing::new([0u8; 32]);
    let mut id = [0u8; ID_LEN];
    getrandom::fill(kek.as_mut_slice())
        .and_then(|()| getrandom::fill(&mut id))
        .map_err(|e| anyhow::anyhow!("no random numbers from the operating system: {e}"))?;
    let keyring = Keyring::connect()?;
    let collection: OwnedObjectPath = keyring
        .service
        .call("ReadAlias", &("default",))
        .context("asking the Secret Service for its default collection")?;
    if collection.as_str() == "/" {
        bail!(
            "the Secret Service has no default keyring: create one in your keyring manager \
             (e.g. Seahorse), then try again"
        );
    }
    let collection = keyring.proxy(collection.as_ref(), COLLECTION)?;
    let id_text = hex(&id);
    let attributes = HashMap::from([("application", "softkey"), (SLOT_ATTRIBUTE, &id_text)]);
    let label = format!("softkey vault key ({vault_label})");
    let properties = HashMap::from([
        ("org.freedesktop.Secret.Item.Label", Value::from(label)),
        (
            "org.freedesktop.Secret.Item.Attributes",
            Value::from(attributes),
        ),
    ]);
    let mut secret: Secret = (
        keyring.session.clone(),
        Vec::new(),
        kek.to_vec(),
        "application/octet-stream".to_owned(),
    );
    let created: zbus::Result<(OwnedObjectPath, OwnedObjectPath)> =
        collection.call("CreateItem", &(properties, &secret, true));
    zeroize::Zeroize::zeroize(&mut secret.2);
    let (_item, prompt) = created.context(
        "the Secret Service refused to store the key (is the keyring locked? unlock it and \
             try again)",
    )?;
    if prompt.as_str() != "/" {
        bail!("the keyring is locked: unlock it (log in to the desktop) and try again");
    }
    Ok((id.to_vec(), kek))
}

/// Fetches the KEK of the slot whose blob is `blob`.
pub fn fetch(blob: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
    let keyring = Keyring::connect()?;
    let item = keyring.find(blob)?;
    let secrets: HashMap<OwnedObjectPath, Secret> = keyring
        .service
        .call("GetSecrets", &(vec![item.clone()], &keyring.session))
        .context("reading the vault key from the Secret Service")?;
    let (_, _, value, _) = secrets
        .into_iter()
        .find(|(path, _)| *path == item)
        .map(|(_, secret)| secret)
        .ok_or_else(|| anyhow::anyhow!("the Secret Service returned no secret for the item"))?;
    let value = Zeroizing::new(value);
    let kek: [u8; 32] = value
        .as_slice()
        .try_into()
        .map_err(|_| anyhow::anyhow!("the keyring item holds {} bytes, not a key", value.len()))?;
    Ok(Zeroizing::new(kek))
}

/// Deletes the keyring item of a removed slot; a missing item is not an error, a locked
/// keyring is.
pub fn forget(blob: &[u8]) -> Result<()> {
    let keyring = Keyring::connect()?;
    let Some(item) = keyring.find_any(blob)? else {
        return Ok(());
    };
    let item = keyring.proxy(item.as_ref(), ITEM)?;
    let _prompt: OwnedObjectPath = item
        .call("Delete", &())
        .context("deleting the keyring item")?;
    Ok(())
}

/// A session-bus connection to the Secret Service with an open "plain" session.
struct Keyring {
    connection: Connection,
    service: Proxy<'static>,
    session: OwnedObjectPath,
}

impl Keyring {
    fn connect() -> Result<Self> {
        let connection = Connection::session().context(
            "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS): the keyring slot needs the \
             desktop session",
        )?;
        let service = Proxy::new(&connection, DESTINATION, SERVICE_PATH, SERVICE)
            .context("the Secret Service proxy")?;
        let (_, session): (zbus::zvariant::OwnedValue, OwnedObjectPath) = service
            .call("OpenSession", &("plain", Value::from("")))
            .context("no Secret Service on the session bus (is a keyring daemon running?)")?;
        Ok(Self {
            connection,
            service,
            session,
        })
    }

    fn proxy(&self, path: ObjectPath<'_>, interface: &'static str) -> Result<Proxy<'static>> {
        Proxy::new(&self.connection, DESTINATION, path.into_owned(), interface)
            .context("a Secret Service object proxy")
    }

    /// The item of the slot whose blob is `blob`, locked or not; `None` if there is none.
    /// Deleting a locked item asks the keyring to unlock it (a prompt on a desktop).
    fn find_any(&self, blob: &[u8]) -> Result<Option<OwnedObjectPath>> {
        let (unlocked, locked) = self.search(blob)?;
        Ok(unlocked.into_iter().chain(locked).next())
    }

    fn search(&self, blob: &[u8]) -> Result<(Vec<OwnedObjectPath>, Vec<OwnedObjectPath>)> {
        if blob.len() != ID_LEN {
            bail!("the keyring slot's item id is damaged");
        }
        let id = hex(blob);
        let attributes = HashMap::from([("application", "softkey"), (SLOT_ATTRIBUTE, &*id)]);
        self.service
            .call("SearchItems", &(attributes,))
            .context("searching the Secret Service")
    }

    /// The unlocked item of the slot whose blob is `blob`.
    fn find(&self, blob: &[u8]) -> Result<OwnedObjectPath> {
        let (unlocked, locked) = self.search(blob)?;
        if let Some(item) = unlocked.into_iter().next() {
            return Ok(item);
        }
        if !locked.is_empty() {
            bail!("the keyring holding the vault key is locked: unlock it and try again");
        }
        bail!("the keyring has no item for this vault's keyring slot (was it deleted?)")
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
