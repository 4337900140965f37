//! Database logins (MySQL, PostgreSQL, TDS): detection and the login
//! exchange over a stream cut between the two directions.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mekong_appmeta::AppProto;

fuzz_target!(|data: &[u8]| {
    let Some((&sel, data)) = data.split_first() else {
        return;
    };
    let _ = mekong_appmeta::db::detect(data, (40000, 3306));
    let _ = mekong_appmeta::db::detect(data, (40000, 1433));
    let protos = [AppProto::Mysql, AppProto::Postgres, AppProto::Mssql];
    let _ = mekong_fuzz::session(&protos, sel, data);
});
