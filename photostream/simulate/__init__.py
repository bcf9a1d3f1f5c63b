"""`photostream simulate`: a synthetic workload through the same SDK and API a real client uses.

The phases, each in its own module:

1. :mod:`.population` registers the users and publishes a power-law follow graph (:mod:`.graph`) through the SDK;
2. the runner (:mod:`.runner`) waits, with a progress bar, until the worker applied them;
3. :mod:`.workload` paces actions (:mod:`.mix`, :mod:`.actions`) at a steady rate — posts with real images
   uploaded through the pre-signed path, likes, comments, follows and feed reads over the API, direct messages
   and their read marks through the SDK — staying under the API's limits (:mod:`.budgets`);
4. :mod:`.dashboard` shows, every second, what :mod:`.observe` reads from Kafka and :mod:`.stats` measured.
"""
