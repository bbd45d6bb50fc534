//! Cursor iteration over a list endpoint (api.md: `?limit=&cursor=`, answers
//! `{"items", "next_cursor"}`; `null` ends the list).

use crate::client::{page_url, Client};
use crate::error::Error;
use crate::{Page, Result};
use reqwest::Url;
use serde::de::DeserializeOwned;
use std::fmt;
use std::marker::PhantomData;

/// Pages of one list, fetched on demand with [`Pager::next_page`]. A failed
/// fetch leaves the pager where it was, so calling again retries that page.
pub struct Pager<T> {
    client: Client,
    /// The list's URL with its filters, without `limit` and `cursor`.
    url: Url,
    limit: Option<u32>,
    cursor: Option<String>,
    finished: bool,
    pages: u64,
    _items: PhantomData<fn() -> T>,
}

impl<T> fmt::Debug for Pager<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pager")
            .field("url", &self.url.as_str())
            .field("limit", &self.limit)
            .field("pages", &self.pages)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl<T: DeserializeOwned> Pager<T> {
    pub(crate) fn new(client: Client, url: Url, limit: Option<u32>) -> Self {
        Self { client, url, limit, cursor: None, finished: false, pages: 0, _items: PhantomData }
    }

    /// The next page's items, or `None` once the server said there are no
    /// more.
    pub async fn next_page(&mut self) -> Result<Option<Vec<T>>> {
        if self.finished {
            return Ok(None);
        }
        let url = page_url(&self.url, self.limit, self.cursor.as_deref());
        let page: Page<T> = self.client.get(url).await?;
        match page.next_cursor {
            Some(next) if Some(&next) == self.cursor.as_ref() => {
                return Err(Error::protocol(Some(200), "the server gave the same cursor twice"));
            }
            Some(next) if next.is_empty() => return Err(Error::protocol(Some(200), "an empty cursor")),
            next => {
                self.finished = next.is_none();
                self.cursor = next;
            }
        }
        self.pages += 1;
        Ok(Some(page.items))
    }

    /// How many pages were fetched so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Every remaining item, in order.
    pub async fn collect_all(mut self) -> Result<Vec<T>> {
        let mut all = Vec::new();
        while let Some(items) = self.next_page().await? {
            all.extend(items);
        }
        Ok(all)
    }
}
