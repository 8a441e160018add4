"""Package registries and artifact stores (UL610–UL639)."""

from __future__ import annotations

from functools import partial

from scanner.rules._provider import anchored, token
from scanner.rules.base import register

T = partial(token, category="package-registry")
A = partial(anchored, category="package-registry")

register(
    T("UL610", "NuGet", "NuGet API key", "oy2{lc:43}", env="NUGET_API_KEY",
      doc="https://learn.microsoft.com/nuget/nuget-org/scoped-api-keys",
      revoke="https://www.nuget.org/account/apikeys"),
    # Context-anchored: "cio" is in "decision", "social", "precious"… (a costly, imprecise keyword).
    A("UL611", "crates.io", "crates.io API token", ("cargo", "crates"), "cio{b62:32}", env="CARGO_REGISTRY_TOKEN",
      doc="https://doc.rust-lang.org/cargo/reference/publishing.html", revoke="https://crates.io/settings/tokens"),
    T("UL612", "Packagist", "Packagist API token", ("packagist_uut_{b62:40-80}", "packagist_out_{b62:40-80}"),
      env="PACKAGIST_TOKEN", doc="https://packagist.org/about#how-to-update-packages",
      revoke="https://packagist.org/profile/", preview="packagist_"),
    A("UL613", "Hex", "Hex.pm API key", ("hex_api", "hexpm", "hex_key"), "{hex:32}", env="HEX_API_KEY",
      doc="https://hex.pm/docs/publish", revoke="https://hex.pm/dashboard/keys"),
    A("UL614", "Cloudsmith", "Cloudsmith API key", ("cloudsmith",), "{hex:40}", env="CLOUDSMITH_API_KEY",
      doc="https://help.cloudsmith.io/docs/api-key", revoke="https://cloudsmith.io/user/settings/api/"),
    A("UL615", "Gemfury", "Gemfury token", ("gemfury", "fury_"), "{url:20-30}", env="GEMFURY_TOKEN",
      doc="https://gemfury.com/help/tokens/", revoke="Gemfury → Tokens"),
    A("UL616", "Quay", "Quay.io robot token", ("quay",), "{uc:64}", env="QUAY_ROBOT_TOKEN",
      doc="https://docs.quay.io/glossary/robot-accounts.html",
      revoke="Quay → Organization → Robot accounts → Regenerate"),
    A("UL617", "Sonatype", "Sonatype OSSRH / Central token", ("ossrh", "sonatype", "maven_central", "central_token"),
      "{url:40-50}", env="OSSRH_TOKEN", doc="https://central.sonatype.org/publish/generate-portal-token/",
      revoke="https://central.sonatype.com/account"),
    A("UL618", "Anaconda", "Anaconda.org token", ("anaconda",), "{url:30-40}", env="ANACONDA_API_TOKEN",
      doc="https://docs.anaconda.com/anacondaorg/user-guide/work-with-tokens/",
      revoke="https://anaconda.org/settings/access"),
    A("UL619", "Open VSX", "Open VSX access token", ("ovsx", "open_vsx", "openvsx"), "{uuid}", env="OVSX_PAT",
      doc="https://github.com/eclipse/openvsx/wiki/Publishing-Extensions",
      revoke="https://open-vsx.org/user-settings/tokens"),
    A("UL620", "Expo", "Expo access token", ("expo_token", "expo_access", "expotoken"), "{url:40}", env="EXPO_TOKEN",
      doc="https://docs.expo.dev/accounts/programmatic-access/", revoke="https://expo.dev/settings/access-tokens"),
    A("UL621", "CocoaPods", "CocoaPods trunk token", ("cocoapods", "pod_trunk", "cocoapods_trunk"), "{hex:32}",
      env="COCOAPODS_TRUNK_TOKEN", doc="https://guides.cocoapods.org/making/getting-setup-with-trunk.html",
      revoke="pod trunk me clean-sessions --all"),
    A("UL622", "Buf", "Buf Schema Registry token", ("buf_token", "bufbuild", "buf_api"), "{hex:64}", env="BUF_TOKEN",
      doc="https://buf.build/docs/bsr/authentication", revoke="https://buf.build/settings/user"),
    A("UL623", "JFrog", "JFrog Artifactory API key / password", ("artifactory", "jfrog"), ("AKCp{b62:69}",
      "AP{b62:8-64}"),
      env="ARTIFACTORY_API_KEY", doc="https://jfrog.com/help/r/jfrog-platform-administration-documentation/api-key",
      revoke="JFrog → Edit profile → API key → Revoke"),
    A("UL624", "Nexus", "Sonatype Nexus user token", ("nexus",), "{url:40-50}", env="NEXUS_TOKEN",
      doc="https://help.sonatype.com/en/user-tokens.html", revoke="Nexus → User → User token → Reset"),
    A("UL625", "pub.dev", "pub.dev credentials", ("pub_dev", "pubdev", "pub_token"), "{url:40-80}", env="PUB_TOKEN",
      doc="https://dart.dev/tools/pub/automated-publishing", revoke="https://pub.dev/my-packages"),
    A("UL626", "npm", "npm access token (legacy UUID)", ("npm_token", "npmtoken", "npm_auth"),
      "{uuid}", env="NPM_TOKEN", doc="https://docs.npmjs.com/about-access-tokens",
      revoke="https://www.npmjs.com/settings/~/tokens"),
    A("UL627", "Chocolatey", "Chocolatey API key", ("chocolatey", "choco_"), "{uuid}", env="CHOCOLATEY_API_KEY",
      doc="https://docs.chocolatey.org/en-us/create/commands/api-key/",
      revoke="https://community.chocolatey.org/account"),
    A("UL628", "Snapcraft", "Snap Store credentials", ("snapcraft",), "{b64x:100-2000}",
      env="SNAPCRAFT_STORE_CREDENTIALS",
      doc="https://snapcraft.io/docs/snapcraft-authentication",
      revoke="snapcraft logout / https://dashboard.snapcraft.io/"),
)
