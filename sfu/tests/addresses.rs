//! New host candidates for participants that join after the LAN changed: the SFU listens on all
//! addresses; after `set_addresses` a second address (10.99.7.1, added to the namespace's
//! interface as a LAN change would) is what the next participant is offered, while the first
//! keeps the address it was given; both decode each other's pictures. Inside a network
//! namespace.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::process::Command;
use std::time::Duration;

use common::{enter_namespace, run_scenario, start_sfu_on, Client, Driver};
use lancall_sfu::SfuError;

const NEW_ADDR: Ipv4Addr = Ipv4Addr::new(10, 99, 7, 1);

#[test]
fn participants_joining_after_set_addresses_are_given_the_new_addresses() {
    let Some(_ns) = enter_namespace("addresses") else {
        return;
    };
    run_scenario(Duration::from_secs(100), async {
        let (sfu, events) = start_sfu_on(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let driver = Driver::start(sfu.clone(), events);
        let alice = Client::join(&sfu, "alice", (256, 192)).await;
        driver.register(&alice);

        assert!(matches!(
            sfu.set_addresses(Vec::new()).await,
            Err(SfuError::NoAddresses)
        ));
        let added = Command::new("ip")
            .args(["addr", "add", "10.99.7.1/24", "dev", "lcsf0"])
            .status()
            .expect("ip");
        assert!(added.success(), "could not add {NEW_ADDR} to the namespace");
        sfu.set_addresses(vec![IpAddr::V4(NEW_ADDR)])
            .await
            .expect("new addresses");
        let bob = Client::join(&sfu, "bob", (192, 144)).await;
        driver.register(&bob);

        alice
            .wait_received("bob's pictures", |r| r.moving_videos(20) == vec![(192, 144)])
            .await;
        bob.wait_received("alice's pictures", |r| r.moving_videos(20) == vec![(256, 192)])
            .await;
        // The host candidates of the SFU's offers (str0m also lists the peer-reflexive ones it
        // learnt from the client's checks).
        let candidates = |id| -> Vec<String> {
            driver
                .offers_to(id)
                .iter()
                .flat_map(|sdp| {
                    sdp.lines()
                        .filter(|l| l.starts_with("a=candidate") && l.contains(" typ host"))
                        .map(str::to_owned)
                        .collect::<Vec<_>>()
                })
                .collect()
        };
        let (to_alice, to_bob) = (candidates(alice.id), candidates(bob.id));
        assert!(
            !to_bob.is_empty() && to_bob.iter().all(|c| c.contains("10.99.7.1 ")),
            "bob was offered {to_bob:?}"
        );
        assert!(
            !to_alice.is_empty() && to_alice.iter().all(|c| c.contains("10.99.6.1 ")),
            "alice was offered {to_alice:?}"
        );
    });
}
