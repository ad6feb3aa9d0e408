FROM python:3.11-slim
WORKDIR /srv/trellis
COPY pyproject.toml README.md alembic.ini ./
COPY app app
COPY workers workers
COPY migrations migrations
COPY templates templates
COPY static static
# Editable: templates/, static/ and migrations/ are read from this folder, beside app/.
RUN pip install --no-cache-dir -e . && useradd --system --uid 1000 trellis \
    && mkdir -p /var/lib/trellis && chown trellis /var/lib/trellis
USER trellis
ENV TRELLIS_DATA_DIR=/var/lib/trellis
EXPOSE 8000
CMD ["trellis", "serve", "--host", "0.0.0.0", "--no-worker"]
