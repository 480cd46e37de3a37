"""A screenshot of `zoo serve`'s page, for docs/serving.md.

    python docs/screenshot_serve.py [--out docs/serve.png] [--image PHOTO]

Serves the shipped models (each loaded on first use) on a free local port,
has headless Chromium (Debian's `chromium` and `chromium-driver`, driven by
Selenium) translate a sentence, caption a photo (by default the first
Flickr8k test image under ZOO_DATA_DIR) and generate text, waits for the
attention matrix, the caption's maps and the gate-coloured text, and saves
the page as a PNG.
"""

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from zoo import serve  # noqa: E402

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=str(ROOT / "docs" / "serve.png"))
    parser.add_argument("--image", default=None, help="the photo to caption (default: the first Flickr8k test image)")
    parser.add_argument("--size", default="1500,1000", help="window width,height in pixels")
    args = parser.parse_args(argv)
    chromium, driver_path = shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")
    if not chromium or not driver_path:
        raise SystemExit("chromium and chromedriver not found: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    if args.image is None:
        from zoo.data.flickr8k import load_flickr8k

        args.image = load_flickr8k("test", limit=1)[0][0]
    with serve.serving(serve.Server()) as url, tempfile.TemporaryDirectory() as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = chromium
        for flag in FLAGS + [f"--window-size={args.size}", f"--user-data-dir={profile}"]:
            options.add_argument(flag)
        driver = webdriver.Chrome(service=webdriver.ChromeService(driver_path), options=options)
        try:
            wait = WebDriverWait(driver, 600, poll_frequency=0.2)
            driver.get(url)
            wait.until(lambda d: d.find_element(By.ID, "generate-model").get_attribute("value"))
            driver.find_element(By.ID, "translate-button").click()
            wait.until(lambda d: d.find_element(By.ID, "attention-canvas").get_attribute("data-cells") not in
                       (None, "", "0"))
            driver.find_element(By.ID, "caption-file").send_keys(str(Path(args.image).resolve()))
            driver.find_element(By.ID, "caption-button").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#caption-maps figure"))
            Select(driver.find_element(By.ID, "generate-model")).select_by_value("char-lstm")
            length = driver.find_element(By.ID, "generate-length")
            length.clear()
            length.send_keys("240")
            driver.find_element(By.ID, "generate-button").click()
            wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#generated span"))
            Select(driver.find_element(By.ID, "generate-gate")).select_by_value("forget")
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            driver.save_screenshot(args.out)
        finally:
            driver.quit()
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
