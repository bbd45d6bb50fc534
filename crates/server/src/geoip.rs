//! The country of an IP, from a MaxMind-format database (`risk.geoip_db`).

use std::net::IpAddr;

pub struct GeoIp {
    reader: maxminddb::Reader<Vec<u8>>,
}

impl GeoIp {
    pub fn open(path: &str) -> Result<Self, maxminddb::MaxMindDbError> {
        Ok(Self { reader: maxminddb::Reader::open_readfile(path)? })
    }

    /// ISO 3166-1 alpha-2 code, or `None` when the database does not know.
    pub fn country(&self, ip: IpAddr) -> Option<String> {
        let found = self.reader.lookup(ip).ok()?;
        let record: maxminddb::geoip2::Country<'_> = found.decode().ok()??;
        record.country.iso_code.map(str::to_owned)
    }
}
