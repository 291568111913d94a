# fakescope's service on the CPU: the REST API, the job queue, the web page and the dashboard.
#
#   docker build -t fakescope-serve .
#   docker run --rm -p 8000:8000 -v fakescope-data:/data fakescope-serve
#   then open http://127.0.0.1:8000/. Arguments after the image name replace "--workers 1":
#   docker run ... -v "$PWD/runs:/runs:ro" fakescope-serve --workers 2 --runs /runs
#
# The image installs the CPU build of PyTorch (torch is needed for the report's saliency maps;
# scanning itself runs the shipped model with ONNX Runtime) and the versions this project pins.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY constraints.txt requirements-nodeps.txt ./
RUN pip install --index-url https://download.pytorch.org/whl/cpu "torch==2.14.1" "torchvision==0.29.1"
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install -c constraints.txt ".[serve,onnx]" \
 && pip install --no-deps -r requirements-nodeps.txt

RUN useradd --create-home --uid 10001 fakescope && mkdir /data && chown fakescope /data
USER fakescope
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
ENTRYPOINT ["fakescope", "serve", "--host", "0.0.0.0", "--port", "8000", "--data", "/data"]
CMD ["--workers", "1"]
